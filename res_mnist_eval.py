"""Evaluates a checkpoint on the 10,000 test images of its dataset.

    python res_mnist_eval.py                     # latest in model/
    python res_mnist_eval.py --checkpoint_path=model/my_model-300

The network and the dataset (MNIST or Fashion-MNIST) are those the model
directory's `model.json` names (for a model directory made before that file
existed, the ResNet on MNIST, with batch norm if its checkpoint has it);
dropout off, batch norm on its moving averages. Prints the step evaluated
and `test accuracy <value>`.
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

common_flags.define_data_flags(dataset=False)
common_flags.define_model_dir_flags(checkpoint_path=True)
common_flags.define_net_flag(None)
flags.DEFINE_integer('eval_batch_size', runtime.EVAL_BATCH_SIZE,
                     'Images per evaluation step.', lower_bound=1)

FLAGS = flags.FLAGS


def main(_):
  try:
    # In towers: faster, same result.
    with loader.load(FLAGS.model_dir, FLAGS.checkpoint_path, net=FLAGS.net,
                     eval_batch_size=FLAGS.eval_batch_size) as model:
      data = common_flags.read_data(FLAGS, model.info.get('dataset', 'mnist'),
                                    validation_size=0)
      accuracy, _ = model.evaluate(data.test, FLAGS.eval_batch_size)
  except (input_data.DataError, checkpoints.CheckpointError,
          model_dir.ModelDirError) as e:
    sys.exit('res_mnist_eval.py: error: %s' % e)
  print('%s (step %d), %d test images' % (
      model.checkpoint_path, model.step_restored, data.test.num_examples))
  print('test accuracy %.4f' % accuracy)


if __name__ == '__main__':
  cli.run(main)
