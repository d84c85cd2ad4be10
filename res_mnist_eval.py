"""Evaluates a checkpoint on the 10,000 test images of its dataset.

    python res_mnist_eval.py                     # latest in model/
    python res_mnist_eval.py --checkpoint_path=model/my_model-300

The network and the dataset (MNIST or Fashion-MNIST) are those the model
directory's `model.json` names (for a model directory made before that file
existed, the ResNet on MNIST, with batch norm if its checkpoint has it);
dropout off, batch norm on its moving averages. Prints the step evaluated
and `test accuracy <value>`. With `--tta`, each test image is also read in
variants and the probabilities averaged: digits shifted, turned, thinner
and bolder (9 readings); clothes as they are and mirrored (2).
"""
from resmnist import cli
cli.start()  # before TensorFlow loads

from absl import flags  # noqa: E402
import numpy as np  # noqa: E402

from nets import nets_factory  # noqa: E402
from resmnist import common_flags  # noqa: E402
from resmnist import input_data  # noqa: E402
from resmnist import photo  # noqa: E402
from resmnist import runtime  # noqa: E402

common_flags.define_data_flags()
common_flags.define_model_dir_flags(checkpoint_path=True)
common_flags.define_net_flag(nets_factory.NETWORKS)
flags.DEFINE_integer('eval_batch_size', runtime.EVAL_BATCH_SIZE,
                     'Images per evaluation step.', lower_bound=1)
flags.DEFINE_bool('averaged', True, 'Where the checkpoint holds moving '
                  'averages of the weights (--moving_average_decay, '
                  '--swa_start), evaluate '
                  'them; --noaveraged: the weights themselves.')
flags.DEFINE_bool('tta', False, 'Test-time augmentation: average the '
                  'probabilities of each image\'s variants (digits: shifted, '
                  'turned, thinner, bolder; clothes: mirrored).')
flags.adopt_module_key_flags(common_flags)  # in --help

FLAGS = flags.FLAGS


def mirrored(classify):
  """`classify` averaged over each image and its left-right mirror (a
  mirrored shoe is a shoe)."""
  def averaged(images):
    return (classify(images) + classify(images[:, :, ::-1])) / 2
  return averaged


def tta_accuracy(model, data_set, dataset, batch_size):
  """Accuracy of `model` on `data_set` with test-time augmentation."""
  size = input_data.IMAGE_SIZE
  classify = (mirrored if input_data.DATASETS[dataset].mirror_invariant
              else photo.test_time_augmented)(
                  lambda images: model.predict(images.reshape(-1, size * size)))
  right = 0
  for start in range(0, data_set.num_examples, batch_size):
    images = data_set.images[start:start + batch_size].reshape(-1, size, size)
    labels = data_set.labels[start:start + batch_size].argmax(1)
    right += np.sum(classify(images).argmax(1) == labels)
  return right / max(data_set.num_examples, 1)


def main(_):
  # In towers: faster, same result.
  with nets_factory.load_model(FLAGS.model_dir, FLAGS.checkpoint_path,
                               net=FLAGS.net,
                               eval_batch_size=FLAGS.eval_batch_size,
                               averaged=FLAGS.averaged) as model:
    dataset = model.info.get('dataset', 'mnist')
    data = common_flags.read_data(FLAGS, dataset, validation_size=0)
    if FLAGS.tta:
      accuracy = tta_accuracy(model, data.test, dataset, FLAGS.eval_batch_size)
    else:
      accuracy, _ = model.evaluate(data.test, FLAGS.eval_batch_size)
  print('%s (step %d), %d test images' % (
      model.checkpoint_path, model.step_restored, data.test.num_examples))
  print('test accuracy %.4f%s' % (accuracy, ' (with --tta)' if FLAGS.tta
                                   else ''))


if __name__ == '__main__':
  cli.run(main)
