"""How every script of this package starts and ends.

    from resmnist import cli
    cli.start()          # first, before TensorFlow loads
    ...
    if __name__ == '__main__':
      cli.run(main)

`start` is the scripts' environment, which importing the library never
touches: TensorFlow's oneDNN kernels on (TF_ENABLE_ONEDNN_OPTS=1) where
TensorFlow would leave them off (it turns them on by itself only on CPUs with
AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX; on an AVX2-only CPU they train
faster than its Eigen kernels, docs/speed.md; TF_ENABLE_ONEDNN_OPTS=0 keeps
TensorFlow's choice), and TensorFlow's start-up chatter off the terminal
(TF_CPP_MIN_LOG_LEVEL=0 shows it again).

`run` switches TensorFlow to TF1 graph mode and runs `main` with absl. Every
error of the package (`errors.Error`), a flag error included, reaches the
user as one line, `res_mnist.py: error: <what is wrong>`, with exit status
1; an interrupted training (`errors.Interrupted`) exits with 128 + the
signal's number.
"""
import functools
import os
import sys
import warnings

from absl import app
from absl import flags

from resmnist import errors


def _import_tensorflow_quietly():
  # TensorFlow's C++ INFO lines are written to fd 2 before
  # TF_CPP_MIN_LOG_LEVEL is read.
  saved_stderr = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, 2)
  try:
    import tensorflow  # noqa: F401
  finally:
    os.dup2(saved_stderr, 2)
    os.close(saved_stderr)
    os.close(devnull)


def start():
  """The scripts' environment; call it before anything imports TensorFlow."""
  # Read once, when TensorFlow loads.
  os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
  # Errors reach the user as one line of the script's; TensorFlow's C++ log
  # would repeat them (and warn about absent GPUs) around it.
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  if os.environ['TF_CPP_MIN_LOG_LEVEL'] == '0':
    return
  _import_tensorflow_quietly()
  import tensorflow.compat.v1 as tf
  # Its Python-side errors too (e.g. NanTensorHook's).
  tf.get_logger().setLevel('CRITICAL')
  # tf-slim calls the TF1 layers through `layer.apply`, deprecated in TF2.
  warnings.filterwarnings(
      'ignore', message=r'`(layer\.apply|tf\.layers\.\w+)` is deprecated')


def _parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit('%s: error: %s' % (os.path.basename(argv[0]), e))


def _reporting_errors(main):
  """`main`, with the package's errors turned into one line and a status."""

  @functools.wraps(main)
  def wrapped(argv):
    script = os.path.basename(argv[0])
    try:
      return main(argv)
    except errors.Interrupted as e:
      print('%s: interrupted by %s' % (script, e), file=sys.stderr)
      sys.exit(128 + e.signum)
    except errors.Error as e:
      sys.exit('%s: error: %s' % (script, e))
    except KeyboardInterrupt:
      print('%s: interrupted; nothing to save' % script, file=sys.stderr)
      sys.exit(130)
  return wrapped


def run(main):
  """Runs `main(argv)` in TF1 graph mode, as the scripts do."""
  import tensorflow.compat.v1 as tf
  tf.disable_v2_behavior()
  app.run(_reporting_errors(main), flags_parser=_parse_flags)
