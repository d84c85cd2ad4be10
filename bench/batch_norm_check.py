"""Are a checkpoint's batch norm moving averages stale? Measured three ways.

    python bench/batch_norm_check.py --model_dir=model [--batches=300]

Evaluation uses batch norm's moving averages (decay 0.99: the statistics of
about the last 100 training steps). After a short run, or one at a constant
rate, the weights have moved since, and the averages no longer fit them.
This script evaluates the checkpoint's weights on the validation split and
the test set:

  moving averages      as res_mnist_eval.py does (dropout off);
  batch statistics     each batch of --eval_batch_size normalised by its own
                       statistics, as in training (dropout on too, where the
                       network has it: they come together in slim's nets);
  recomputed averages  the moving averages computed again from --batches
                       training batches of --batch_size run forward with the
                       weights frozen (as res_mnist.py --precise_batch_norm
                       does).

If the first is far below the other two, the averages are stale. The
checkpoint is not changed. The validation split is the first
--validation_size training images, as res_mnist.py holds out by default (a
model trained without a split has seen them).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from resmnist import cli  # noqa: E402
cli.start()  # before TensorFlow loads, as the scripts do

from absl import flags  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

from nets import nets_factory  # noqa: E402
from resmnist import checkpoints  # noqa: E402
from resmnist import common_flags  # noqa: E402
from resmnist import errors  # noqa: E402
from resmnist import hooks  # noqa: E402
from resmnist import input_data  # noqa: E402
from resmnist import model_dir  # noqa: E402
from resmnist.recipe import Recipe  # noqa: E402

common_flags.define_data_flags()
common_flags.define_model_dir_flags(checkpoint_path=True)
flags.DEFINE_integer('batches', 300, 'Training batches for the recomputed '
                     'averages.', lower_bound=1)
flags.DEFINE_integer('batch_size', None, 'Their size; default: the one the '
                     'model was trained with (model.json), else 100.',
                     lower_bound=1)
flags.DEFINE_integer('eval_batch_size', 100, 'Images per evaluation batch '
                     '(the batch whose statistics the second row uses).',
                     lower_bound=1)
flags.DEFINE_integer('validation_size', 5000, 'Training images held out as '
                     'the validation split.', lower_bound=0)
flags.DEFINE_integer('seed', 0, 'Seed of the training batches\' order.')

FLAGS = flags.FLAGS


def _correct_counts(info, images, labels):
  """{'batch': ..., 'moving': ...}: right answers of a batch, with batch
  statistics (training mode, which updates the averages in place) and with
  the moving averages."""
  correct = {}
  for mode, is_training in (('batch', True), ('moving', False)):
    network_fn = nets_factory.get_network_fn(
        info.net, info.num_classes, is_training=is_training,
        **info.net_options)
    with tf.variable_scope(tf.get_variable_scope(), reuse=tf.AUTO_REUSE):
      logits = network_fn(images)[0]
    correct[mode] = tf.reduce_sum(tf.cast(tf.equal(
        tf.argmax(logits, 1), tf.argmax(labels, 1)), tf.int32))
  return correct


def main(_):
  path = checkpoints.require_checkpoint(FLAGS.model_dir, FLAGS.checkpoint_path)
  info = model_dir.read_info(FLAGS.model_dir, path)
  if not info.batch_norm:
    raise errors.Error('%s has no batch norm' % path)
  data = common_flags.read_data(FLAGS, info.dataset, FLAGS.validation_size,
                                FLAGS.seed)
  batch_size = FLAGS.batch_size or (info.recipe or {}).get(
      'batch_size', Recipe().batch_size)
  images = tf.placeholder(tf.float32, [None, input_data.IMAGE_PIXELS])
  labels = tf.placeholder(tf.float32, [None, info.num_classes])
  correct = _correct_counts(info, images, labels)
  tf.train.get_or_create_global_step()
  variables = tf.global_variables()
  reset, rescale = hooks.moving_average_recomputation(
      nets_factory.network(info.net).batch_norm_decay, FLAGS.batches)
  with tf.Session() as session:
    checkpoints.restore(session, tf.train.Saver(variables), path, variables)

    def accuracy(mode, data_set):
      total = 0
      for start in range(0, data_set.num_examples, FLAGS.eval_batch_size):
        end = start + FLAGS.eval_batch_size
        total += session.run(correct[mode], {
            images: data_set.images[start:end],
            labels: data_set.labels[start:end]})
      return total / data_set.num_examples

    def report(what, mode):
      validation = ('validation %.4f  ' % accuracy(mode, data.validation)
                    if data.validation.num_examples else '')
      print('%-22s %stest %.4f' % (what, validation,
                                   accuracy(mode, data.test)))

    print('%s (%s, %s)' % (path, info.net, info.dataset))
    report('moving averages', 'moving')
    report('batch statistics', 'batch')
    session.run(reset)
    for _ in range(FLAGS.batches):
      batch_images, batch_labels = data.train.next_batch(batch_size)
      session.run(correct['batch'], {images: batch_images,
                                     labels: batch_labels})
    session.run(rescale)
    report('recomputed averages', 'moving')
    print('(recomputed over %d training batches of %d, weights frozen; '
          'the checkpoint is unchanged)' % (FLAGS.batches, batch_size))


if __name__ == '__main__':
  cli.run(main)
