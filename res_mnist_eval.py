"""Evaluates a checkpoint on the 10,000 test images of its dataset.

    python res_mnist_eval.py                     # latest in model/
    python res_mnist_eval.py --checkpoint_path=model/my_model-300

The network and the dataset (MNIST or Fashion-MNIST) are those the model
directory's `model.json` names (for a model directory made before that file
existed, the ResNet on MNIST, with batch norm if its checkpoint has it);
dropout off, batch norm on its moving averages. Prints the step evaluated
and `test accuracy <value>`.
"""
from resmnist import cli
cli.start()  # before TensorFlow loads

from absl import flags  # noqa: E402

from nets import nets_factory  # noqa: E402
from resmnist import common_flags  # noqa: E402
from resmnist import runtime  # noqa: E402

common_flags.define_data_flags()
common_flags.define_model_dir_flags(checkpoint_path=True)
common_flags.define_net_flag(nets_factory.NETWORKS)
flags.DEFINE_integer('eval_batch_size', runtime.EVAL_BATCH_SIZE,
                     'Images per evaluation step.', lower_bound=1)
flags.DEFINE_bool('averaged', True, 'Where the checkpoint holds moving '
                  'averages of the weights (--moving_average_decay), evaluate '
                  'them; --noaveraged: the weights themselves.')
flags.adopt_module_key_flags(common_flags)  # in --help

FLAGS = flags.FLAGS


def main(_):
  # In towers: faster, same result.
  with nets_factory.load_model(FLAGS.model_dir, FLAGS.checkpoint_path,
                               net=FLAGS.net,
                               eval_batch_size=FLAGS.eval_batch_size,
                               averaged=FLAGS.averaged) as model:
    data = common_flags.read_data(FLAGS, model.info.get('dataset', 'mnist'),
                                  validation_size=0)
    accuracy, _ = model.evaluate(data.test, FLAGS.eval_batch_size)
  print('%s (step %d), %d test images' % (
      model.checkpoint_path, model.step_restored, data.test.num_examples))
  print('test accuracy %.4f' % accuracy)


if __name__ == '__main__':
  cli.run(main)
