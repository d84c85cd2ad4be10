"""Trains the MNIST ResNet: `python res_mnist.py`.

The defaults are the original blog's run: batch 100, Adam with the rate
`exponential_decay(0.003, global_step, 200, 0.97)`, 500 steps, a log line
every 50 steps, checkpoints `model/my_model-<step>`. Unlike the original,
the decayed rate is the one Adam uses, dropout is on only for training
steps, and checkpoints are written every --save_every steps and at the end
instead of at every step. When --model_dir already holds a checkpoint,
training continues from its step up to --max_steps (--fresh starts over).
At the end it prints validation and test accuracy, dropout off.
"""
import os
import sys
import time

from slim_compat import slim  # noqa: F401  (before TensorFlow: see slim_compat.py)
from absl import app
from absl import flags
import tensorflow.compat.v1 as tf

import checkpoints
import input_data
from res_mnist_inference import do_eval, evaluation, inference

# Data and files
flags.DEFINE_string('data_dir', 'MNIST_data',
                    'Directory of the MNIST gz files (downloaded if missing).')
flags.DEFINE_string('model_dir', 'model', 'Directory of the checkpoints.')
flags.DEFINE_string('model_name', 'my_model',
                    'Checkpoint file prefix: <model_dir>/<model_name>-<step>.')
flags.DEFINE_bool('check_sha256', True,
                  'Check the SHA-256 of the MNIST files; turn off to train on '
                  'other data in the same format (e.g. Fashion-MNIST).')
flags.DEFINE_integer('validation_size', 5000,
                     'Training images held out, the first ones, as in TF1.',
                     lower_bound=0)

# Network
flags.DEFINE_bool('batch_norm', False,
                  'Batch norm after every convolution (not in the original).')

# Training; the defaults are the original's
flags.DEFINE_integer('batch_size', 100, 'Images per training step.',
                     lower_bound=1)
flags.DEFINE_float('learning_rate', 0.003, 'Initial learning rate of Adam.')
flags.DEFINE_float('learning_rate_decay', 0.97,
                   'Factor of exponential_decay per --decay_steps.')
flags.DEFINE_integer('decay_steps', 200, 'Steps of exponential_decay.',
                     lower_bound=1)
flags.DEFINE_integer('max_steps', 500,
                     'Global step at which training stops.', lower_bound=1)
flags.DEFINE_integer('seed', None, 'Seed of the weights, dropout and data '
                     'order; unset: a different run each time.')

# Logging and checkpoints
flags.DEFINE_integer('log_every', 50, 'Steps between log lines.',
                     lower_bound=1)
flags.DEFINE_integer('save_every', 100, 'Steps between checkpoints (one is '
                     'also written at the end).', lower_bound=1)
flags.DEFINE_integer('max_to_keep', 5, 'Most recent checkpoints kept.',
                     lower_bound=1)
flags.DEFINE_bool('fresh', False, 'Ignore checkpoints in --model_dir and '
                  'start from step 0 (later saves overwrite them).')

flags.register_validator('learning_rate', lambda value: value > 0,
                         message='must be greater than 0')
flags.register_validator('learning_rate_decay', lambda value: value > 0,
                         message='must be greater than 0')

FLAGS = flags.FLAGS

EVAL_BATCH_SIZE = 1000


def _format_seconds(seconds):
  minutes, seconds = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return '%d:%02d:%02d' % (hours, minutes, seconds)


def train(mnist):
  """Builds the graph, trains to --max_steps, prints the accuracies."""
  if FLAGS.seed is not None:
    tf.set_random_seed(FLAGS.seed)
  x = tf.placeholder(tf.float32, [None, input_data.IMAGE_PIXELS],
                     name='x-input')
  y_ = tf.placeholder(tf.float32, [None, input_data.NUM_CLASSES],
                      name='y-input')
  is_training = tf.placeholder_with_default(False, [], name='is_training')
  y = inference(x, is_training=is_training, batch_norm=FLAGS.batch_norm)
  global_step = tf.train.get_or_create_global_step()

  cross_entropy_mean = tf.reduce_mean(
      tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels=tf.argmax(y_, 1), logits=y))
  loss = cross_entropy_mean
  learning_rate = tf.train.exponential_decay(
      FLAGS.learning_rate, global_step, FLAGS.decay_steps,
      FLAGS.learning_rate_decay)
  train_op = tf.train.AdamOptimizer(learning_rate).minimize(
      loss, global_step=global_step)
  eval_correct = evaluation(y, y_)

  saver = tf.train.Saver(max_to_keep=FLAGS.max_to_keep)
  save_path = os.path.join(FLAGS.model_dir, FLAGS.model_name)
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    latest = None if FLAGS.fresh else tf.train.latest_checkpoint(FLAGS.model_dir)
    if latest:
      checkpoints.restore(sess, saver, latest)
      print('Restored %s: continuing from step %d'
            % (latest, sess.run(global_step)))
    step = sess.run(global_step)
    if step >= FLAGS.max_steps:
      print('Already at step %d, not below --max_steps=%d: nothing to train'
            % (step, FLAGS.max_steps))

    last_saved = step
    window_start, window_step = time.time(), step
    while step < FLAGS.max_steps:
      xs, ys = mnist.train.next_batch(FLAGS.batch_size)
      _, loss_value, step = sess.run(
          [train_op, loss, global_step],
          feed_dict={x: xs, y_: ys, is_training: True})
      if step % FLAGS.log_every == 0:
        now = time.time()
        seconds_per_step = (now - window_start) / (step - window_step)
        print('training step %d, loss %g (%.0f images/s, %s left)'
              % (step, loss_value, FLAGS.batch_size / seconds_per_step,
                 _format_seconds(seconds_per_step * (FLAGS.max_steps - step))))
        window_start, window_step = now, step
      if step % FLAGS.save_every == 0 or step == FLAGS.max_steps:
        saver.save(sess, save_path, global_step=global_step)
        last_saved = step
    if last_saved != step:
      saver.save(sess, save_path, global_step=global_step)
    print('Model saved to %s-%d' % (save_path, step))

    print('validation accuracy %.4f' % do_eval(
        sess, eval_correct, x, y_, mnist.validation, EVAL_BATCH_SIZE))
    print('test accuracy %.4f' % do_eval(
        sess, eval_correct, x, y_, mnist.test, EVAL_BATCH_SIZE))


def main(_):
  try:
    mnist = input_data.read_data_sets(
        FLAGS.data_dir, one_hot=True, validation_size=FLAGS.validation_size,
        seed=FLAGS.seed,
        sha256=input_data.MNIST_SHA256 if FLAGS.check_sha256 else None)
    try:
      os.makedirs(FLAGS.model_dir, exist_ok=True)
    except OSError as e:
      raise checkpoints.CheckpointError('%s: cannot create the model '
                                        'directory (%s)'
                                        % (FLAGS.model_dir, e.strerror or e))
    train(mnist)
  except (input_data.DataError, checkpoints.CheckpointError) as e:
    sys.exit('res_mnist.py: error: %s' % e)


if __name__ == '__main__':
  tf.disable_v2_behavior()
  app.run(main)
