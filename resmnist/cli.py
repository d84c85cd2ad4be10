"""How every script of this package starts: `cli.run(main)` at the bottom.

It switches TensorFlow to TF1 graph mode and runs `main` with absl, whose
flag errors (`--batch_size=0`, an unknown flag) then read as one line,
`res_mnist.py: error: flag --batch_size=0: 0 is not a positive integer`,
with exit status 1, like every other error of the package.
"""
import os
import sys

from resmnist import slim  # noqa: F401  (readies TensorFlow first)
from absl import app
from absl import flags
import tensorflow.compat.v1 as tf


def _parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit('%s: error: %s' % (os.path.basename(argv[0]), e))


def run(main):
  tf.disable_v2_behavior()
  app.run(main, flags_parser=_parse_flags)
