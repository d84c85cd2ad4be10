"""Evaluates a checkpoint on the 10,000 MNIST test images.

    python res_mnist_eval.py                     # latest in model/
    python res_mnist_eval.py --checkpoint_path=model/my_model-300

The network is rebuilt as the model directory's `model.json` describes it
(for a model directory made before that file existed, as its checkpoint's
variables show), dropout off, batch norm on its moving averages. Prints the
step evaluated and `test accuracy <value>`.
"""
import sys

from resmnist import slim  # noqa: F401  (readies TensorFlow first)
from absl import flags

from resmnist import checkpoints
from resmnist import cli
from resmnist import common_flags
from resmnist import input_data
from resmnist import loader
from resmnist import model_dir
from resmnist import runtime

common_flags.define_data_flags()
common_flags.define_model_dir_flags(checkpoint_path=True)
flags.DEFINE_integer('eval_batch_size', runtime.EVAL_BATCH_SIZE,
                     'Images per evaluation step.', lower_bound=1)

FLAGS = flags.FLAGS


def main(_):
  try:
    towers = runtime.eval_towers(FLAGS.eval_batch_size)  # faster, same result
    with loader.load(FLAGS.model_dir, FLAGS.checkpoint_path, towers,
                     runtime.session_config(towers)) as model:
      mnist = input_data.read_data_sets(
          FLAGS.data_dir, one_hot=True, validation_size=0,
          sha256=common_flags.sha256(FLAGS))
      accuracy, _ = model.evaluate(mnist.test, FLAGS.eval_batch_size)
  except (input_data.DataError, checkpoints.CheckpointError,
          model_dir.ModelDirError) as e:
    sys.exit('res_mnist_eval.py: error: %s' % e)
  print('%s (step %d), %d test images' % (
      model.checkpoint_path, model.step_restored, mnist.test.num_examples))
  print('test accuracy %.4f' % accuracy)


if __name__ == '__main__':
  cli.run(main)
