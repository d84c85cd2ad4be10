"""Trains the MNIST ResNet: `python res_mnist.py`.

The defaults are the original blog's run: batch 100, Adam with the rate
`exponential_decay(0.003, global_step, 200, 0.97)`, 500 steps, a log line
every 50 steps, checkpoints `model/my_model-<step>`. Unlike the original,
the decayed rate is the one Adam uses, dropout is on only for training
steps, and checkpoints are written every --save_every steps and at the end
instead of at every step. When --model_dir already holds a checkpoint,
training continues from its step up to --max_steps (--fresh starts over).
At the end it prints validation and test accuracy, dropout off.

`--preset=best` trains the most accurate recipe of the README (batch norm,
augmentation, cosine schedule, weight decay, model selection on the
validation split); any flag given on the command line overrides a preset.
"""
import collections
import math
import os
import signal
import sys
import time

from slim_compat import slim  # noqa: F401  (before TensorFlow: see slim_compat.py)
from absl import flags
import numpy as np
import tensorflow.compat.v1 as tf

import checkpoints
import cli
import input_data
from res_mnist_inference import (EVAL_BATCH_SIZE, do_eval, eval_towers,
                                  evaluation, inference_in_towers,
                                  session_config)

# Data and files
flags.DEFINE_string('data_dir', 'MNIST_data',
                    'Directory of the MNIST gz files (downloaded if missing).')
flags.DEFINE_bool('check_sha256', True,
                  'Check the SHA-256 of the MNIST files; turn off to train on '
                  'other data in the same format (e.g. Fashion-MNIST).')
flags.DEFINE_integer('validation_size', 5000,
                     'Training images held out, the first ones, as in TF1.',
                     lower_bound=0)
flags.DEFINE_string('model_dir', 'model', 'Directory of the checkpoints.')
flags.DEFINE_string('model_name', 'my_model',
                    'Checkpoint file prefix: <model_dir>/<model_name>-<step>.')

# Network
flags.DEFINE_bool('batch_norm', False,
                  'Batch norm after every convolution (not in the original).')

# Training; the defaults are the original's
flags.DEFINE_enum('preset', None, ['best'], 'A recipe of the README; flags '
                  'given explicitly override it.')
flags.DEFINE_integer('batch_size', 100, 'Images per training step.',
                     lower_bound=1)
flags.DEFINE_float('learning_rate', 0.003, 'Initial learning rate of Adam.')
flags.DEFINE_enum('lr_schedule', 'exponential', ['exponential', 'cosine'],
                  'exponential: the original exponential_decay; cosine: '
                  'linear warm-up, then cosine decay to 0 at --max_steps.')
flags.DEFINE_float('learning_rate_decay', 0.97,
                   'Factor of exponential_decay per --decay_steps.')
flags.DEFINE_integer('decay_steps', 200, 'Steps of exponential_decay.',
                     lower_bound=1)
flags.DEFINE_integer('warmup_steps', 0, 'Linear warm-up steps of the cosine '
                     'schedule.', lower_bound=0)
flags.DEFINE_integer('max_steps', 500,
                     'Global step at which training stops.', lower_bound=1)
flags.DEFINE_float('epochs', 0, 'If > 0, train for this many epochs of the '
                   'training split instead of --max_steps.', lower_bound=0)
flags.DEFINE_float('weight_decay', 0.0, 'L2 weight decay of the conv and '
                   'fully connected weights (the original had 0.0001 '
                   'commented out).', lower_bound=0)
flags.DEFINE_bool('augment', False, 'Random shifts, rotations and scaling of '
                  'the training images (no flips: digits are not symmetric).')
flags.DEFINE_integer('seed', None, 'Seed of the weights, dropout and data '
                     'order; unset: a different run each time.')

# Speed
flags.DEFINE_bool('bfloat16', False, 'Compute in bfloat16 where it is safe '
                  '(oneDNN auto mixed precision; weights stay float32). '
                  'Fast on CPUs with AVX512_BF16 or AMX.')
flags.DEFINE_integer('towers', 1, 'Split each training batch into this many '
                     'towers (copies of the network sharing its weights) '
                     'that run side by side, one core each: 2 trains about '
                     '20-35% faster than 1 on 2 cores. Each tower draws its '
                     'own dropout masks, so a --seed gives another run than '
                     'with 1. Not with --batch_norm.', lower_bound=1)
flags.DEFINE_integer('threads', 0, 'Intra-op threads per kernel; 0: one per '
                     'core, or 1 with --towers > 1.', lower_bound=0)

# Logging, evaluation and checkpoints
flags.DEFINE_integer('log_every', 50, 'Steps between log lines.',
                     lower_bound=1)
flags.DEFINE_integer('eval_every', 0, 'Steps between validation evaluations; '
                     'the best checkpoint is kept in <model_dir>/best. '
                     '0: evaluate only at the end.', lower_bound=0)
flags.DEFINE_bool('report_test', False, 'At each --eval_every evaluation '
                  'also print and record the test accuracy (to report it, e.g. '
                  'the time to reach 99%; it never chooses anything).')
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

# The best recipe measured in the README (table "Accuracy").
PRESETS = {
    'best': dict(batch_norm=True, augment=True, lr_schedule='cosine',
                 learning_rate=0.003, warmup_steps=500, weight_decay=5e-5,
                 epochs=25, eval_every=550, save_every=550, log_every=550,
                 bfloat16=True),
}

# Augmentation ranges: small enough that a 6 stays a 6 and a 1 a 1.
MAX_ROTATION_DEGREES = 10.0
MAX_SHIFT_PIXELS = 2.0
MAX_SCALE_CHANGE = 0.1


def distort_images(images, seed=None):
  """Random rotation, scaling and shift of each image of a `[B, 784]` batch.

  One projective transform per image (`ImageProjectiveTransformV3`, bilinear,
  black outside), all drawn uniformly from the ranges above.
  """
  batch = tf.shape(images)[0]
  angle = tf.random.uniform([batch], -1.0, 1.0, seed=seed) * (
      MAX_ROTATION_DEGREES * math.pi / 180)
  scale = 1.0 + tf.random.uniform([batch], -1.0, 1.0, seed=seed) * MAX_SCALE_CHANGE
  shift = tf.random.uniform([batch, 2], -1.0, 1.0, seed=seed) * MAX_SHIFT_PIXELS
  # The transform maps output pixel (x, y) to the input pixel it samples:
  # input = R(-angle) (output - centre) / scale + centre - shift.
  centre = (input_data.IMAGE_SIZE - 1) / 2.0
  cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
  a2 = centre - cos * centre - sin * centre - shift[:, 0]
  b2 = centre + sin * centre - cos * centre - shift[:, 1]
  zeros = tf.zeros([batch])
  transforms = tf.stack([cos, sin, a2, -sin, cos, b2, zeros, zeros], axis=1)
  images = tf.reshape(images, [-1, input_data.IMAGE_SIZE, input_data.IMAGE_SIZE, 1])
  distorted = tf.raw_ops.ImageProjectiveTransformV3(
      images=images, transforms=transforms,
      output_shape=[input_data.IMAGE_SIZE, input_data.IMAGE_SIZE],
      fill_value=0.0, interpolation='BILINEAR', fill_mode='CONSTANT')
  return tf.reshape(distorted, [-1, input_data.IMAGE_PIXELS])


def _configure_learning_rate(global_step, max_steps):
  if FLAGS.lr_schedule == 'exponential':
    return tf.train.exponential_decay(FLAGS.learning_rate, global_step,
                                      FLAGS.decay_steps,
                                      FLAGS.learning_rate_decay)
  step = tf.cast(global_step, tf.float32)
  warmup = float(min(FLAGS.warmup_steps, max_steps - 1))
  cosine = tf.train.cosine_decay(FLAGS.learning_rate,
                                 tf.maximum(global_step - int(warmup), 0),
                                 max_steps - int(warmup))
  if not warmup:
    return cosine
  return tf.where(step < warmup, FLAGS.learning_rate * (step + 1) / warmup,
                  cosine)


class TrainingError(Exception):
  """Training cannot go on (e.g. the loss is no longer finite)."""


class Interrupted(Exception):
  """SIGINT or SIGTERM arrived; the checkpoint of the current step is saved."""

  def __init__(self, message, signum):
    super(Interrupted, self).__init__(message)
    self.signum = signum


class _StopRequest(object):
  """Remembers a SIGINT or SIGTERM so that the loop can save, then stop."""

  def __init__(self):
    self.signum = None

  def __call__(self, signum, unused_frame):
    self.signum = signum


def _format_seconds(seconds):
  minutes, seconds = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return '%d:%02d:%02d' % (hours, minutes, seconds)


def _build_eval_graph(config):
  """The inference graph with dropout off and batch norm's moving averages.

  Evaluation runs in a graph of its own, restored from the checkpoint just
  written, so that the training graph has no train/eval switch in it. It
  runs in towers whatever --towers is (no randomness: same accuracy), and
  in the training session's config: TensorFlow shares one set of thread
  pools between the sessions of a process anyway.
  """
  graph = tf.Graph()
  with graph.as_default():
    x = tf.placeholder(tf.float32, [None, input_data.IMAGE_PIXELS],
                       name='x-input')
    y_ = tf.placeholder(tf.float32, [None, input_data.NUM_CLASSES],
                        name='y-input')
    logits = inference_in_towers(x, eval_towers(), batch_norm=FLAGS.batch_norm)
    loss_sum = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.argmax(y_, 1), logits=logits))
    eval_sums = [evaluation(logits, y_), loss_sum]
    saver = tf.train.Saver(tf.global_variables())
  sess = tf.Session(graph=graph, config=config)

  def accuracy_and_loss(checkpoint_path, data_set):
    saver.restore(sess, checkpoint_path)
    return do_eval(sess, eval_sums, x, y_, data_set, EVAL_BATCH_SIZE)
  return accuracy_and_loss


def _add_summary(writer, step, **values):
  writer.add_summary(tf.Summary(value=[
      tf.Summary.Value(tag=tag, simple_value=value)
      for tag, value in values.items()]), step)


TrainingGraph = collections.namedtuple(
    'TrainingGraph', 'x y_ train_op loss global_step summary_op')


def build_training_graph(max_steps):
  """The training step of the flags' recipe, in the default graph.

  Dropout, batch norm (batch statistics, moving averages updated in place)
  and augmentation are on unconditionally: evaluation has a graph of its
  own. `loss` is the cross-entropy, without weight decay. Running
  `train_op` trains one step and returns the new global step.
  """
  if FLAGS.seed is not None:
    tf.set_random_seed(FLAGS.seed)
  x = tf.placeholder(tf.float32, [None, input_data.IMAGE_PIXELS],
                     name='x-input')
  y_ = tf.placeholder(tf.float32, [None, input_data.NUM_CLASSES],
                      name='y-input')
  images = distort_images(x) if FLAGS.augment else x
  # Resource variables: with GATE_NONE below, Adam may update a weight while
  # the backward pass still needs it; a resource variable's reads keep the
  # value they read (a ref variable's do not: the run diverges by chance).
  with tf.variable_scope(tf.get_variable_scope(), use_resource=True):
    y = inference_in_towers(images, FLAGS.towers, is_training=True,
                            batch_norm=FLAGS.batch_norm,
                            weight_decay=FLAGS.weight_decay)
    global_step = tf.train.get_or_create_global_step()

  cross_entropy_mean = tf.reduce_mean(
      tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels=tf.argmax(y_, 1), logits=y))
  loss = cross_entropy_mean + tf.losses.get_regularization_loss()
  learning_rate = _configure_learning_rate(global_step, max_steps)
  # GATE_NONE: the default GATE_OP wraps each op's gradients in identities,
  # which stops oneDNN from fusing BiasAddGrad into the filter gradient and
  # serialises the backward pass; same math (bias gradients summed in another
  # order), bf16 steps about 25% faster, fp32 within noise (README, Speed).
  minimize = tf.train.AdamOptimizer(learning_rate).minimize(
      loss, global_step=global_step,
      gate_gradients=tf.train.Optimizer.GATE_NONE)
  # Like slim's create_train_op, the train op is a tensor: the step just
  # trained, read after the update (fetching `global_step` beside it could
  # read the resource variable before the increment).
  with tf.control_dependencies([minimize]):
    train_op = global_step.read_value()
  batch_accuracy = tf.reduce_mean(tf.cast(
      tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1)), tf.float32))
  tf.summary.scalar('loss', cross_entropy_mean)
  tf.summary.scalar('accuracy', batch_accuracy)
  tf.summary.scalar('learning_rate', learning_rate)
  return TrainingGraph(x, y_, train_op, cross_entropy_mean, global_step,
                       tf.summary.merge_all())


def train(mnist, max_steps):
  """Builds the graph, trains to `max_steps`, prints the accuracies."""
  x, y_, train_op, cross_entropy_mean, global_step, summary_op = (
      build_training_graph(max_steps))
  # Kept in the checkpoints so that a resumed run knows what "best" means.
  best_accuracy = tf.Variable(-1.0, trainable=False,
                              name='best_validation_accuracy')

  # Relative paths in the `checkpoint` file: a model dir can be moved.
  saver = tf.train.Saver(max_to_keep=FLAGS.max_to_keep,
                         save_relative_paths=True)
  best_saver = tf.train.Saver(max_to_keep=1, save_relative_paths=True)
  save_path = os.path.join(FLAGS.model_dir, FLAGS.model_name)
  best_path = os.path.join(FLAGS.model_dir, 'best', FLAGS.model_name)
  config = session_config(FLAGS.towers, FLAGS.bfloat16, FLAGS.threads)
  evaluate = _build_eval_graph(config)
  # TensorBoard: `tensorboard --logdir <model_dir>`; training curves (loss,
  # accuracy of the training batch, learning rate) every --log_every steps,
  # validation ones under validation/ at each evaluation.
  writer = tf.summary.FileWriter(FLAGS.model_dir)
  validation_writer = tf.summary.FileWriter(
      os.path.join(FLAGS.model_dir, 'validation'))
  test_writer = (tf.summary.FileWriter(os.path.join(FLAGS.model_dir, 'test'))
                 if FLAGS.report_test else None)
  with tf.Session(config=config) as sess:
    sess.run(tf.global_variables_initializer())
    latest = None if FLAGS.fresh else tf.train.latest_checkpoint(FLAGS.model_dir)
    if latest:
      checkpoints.restore(sess, saver, latest)
      print('Restored %s: continuing from step %d'
            % (latest, sess.run(global_step)))
    step = start_step = sess.run(global_step)
    if step >= max_steps:
      print('Already at step %d, not below --max_steps=%d: nothing to train'
            % (step, max_steps))
    # With the same --seed and --batch_size, the data order goes on as if
    # the run had not stopped.
    mnist.train.skip(start_step * FLAGS.batch_size)

    def save():
      return saver.save(sess, save_path, global_step=global_step)

    last_saved = latest
    window_start, window_step = time.time(), step
    train_start, training_seconds = window_start, 0.0
    stop = _StopRequest()
    handlers = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    while step < max_steps:
      if stop.signum is not None:
        if not (last_saved or '').endswith('-%d' % step):
          last_saved = save()
        raise Interrupted('%s at step %d: saved %s; run the same command '
                          'again to continue'
                          % (signal.Signals(stop.signum).name, step,
                             last_saved), stop.signum)
      xs, ys = mnist.train.next_batch(FLAGS.batch_size)
      fetches = [train_op, cross_entropy_mean]
      if (step + 1) % FLAGS.log_every == 0:
        fetches.append(summary_op)
      results = sess.run(fetches, feed_dict={x: xs, y_: ys})
      step, loss_value = results[:2]
      if not np.isfinite(loss_value):
        raise TrainingError(
            'the loss is %s at step %d: stopped without saving these weights; '
            'the last good checkpoint is %s (try a lower --learning_rate)'
            % (loss_value, step, last_saved or 'none: nothing was saved yet'))
      if step % FLAGS.log_every == 0:
        now = time.time()
        seconds_per_step = (now - window_start) / (step - window_step)
        print('training step %d, loss %g (%.0f images/s, %s left)'
              % (step, loss_value, FLAGS.batch_size / seconds_per_step,
                 _format_seconds(seconds_per_step * (max_steps - step))))
        window_start, window_step = now, step
        if len(results) > 2:
          writer.add_summary(results[2], step)
          _add_summary(writer, step, images_per_second=FLAGS.batch_size
                       / seconds_per_step)
      if step % FLAGS.save_every == 0 or step == max_steps:
        last_saved = save()
      if FLAGS.eval_every and (step % FLAGS.eval_every == 0 or step == max_steps):
        eval_start = time.time()
        if not (last_saved or '').endswith('-%d' % step):
          last_saved = save()
        accuracy, validation_loss = evaluate(last_saved, mnist.validation)
        _add_summary(validation_writer, step, accuracy=accuracy,
                     loss=validation_loss)
        note = ''
        if accuracy > sess.run(best_accuracy):
          sess.run(best_accuracy.assign(accuracy))
          best_saver.save(sess, best_path, global_step=global_step)
          last_saved = save()  # with the new best accuracy in it
          note = ' (best so far)'
        training_seconds += eval_start - train_start
        print('validation accuracy %.4f at step %d%s, %s of training'
              % (accuracy, step, note, _format_seconds(training_seconds)))
        if FLAGS.report_test:
          test_accuracy = evaluate(last_saved, mnist.test)[0]
          _add_summary(test_writer, step, accuracy=test_accuracy)
          print('test accuracy %.4f at step %d (reported only)'
                % (test_accuracy, step))
        train_start = time.time()
        window_start += train_start - eval_start  # the log shows training speed
    for signum, handler in handlers.items():
      signal.signal(signum, handler)
    for summary_writer in (writer, validation_writer, test_writer):
      if summary_writer:
        summary_writer.close()
    if step > start_step:
      print('Model saved to %s' % last_saved)
    final = last_saved or tf.train.latest_checkpoint(FLAGS.model_dir)

  print('validation accuracy %.4f' % evaluate(final, mnist.validation)[0])
  print('test accuracy %.4f' % evaluate(final, mnist.test)[0])
  best = tf.train.latest_checkpoint(os.path.dirname(best_path))
  if FLAGS.eval_every and best:
    print('best validation checkpoint %s: validation accuracy %.4f, test '
          'accuracy %.4f' % (best, evaluate(best, mnist.validation)[0],
                             evaluate(best, mnist.test)[0]))


def _apply_preset():
  """Sets the preset's flags, except those given on the command line."""
  for name, value in PRESETS.get(FLAGS.preset, {}).items():
    if not FLAGS[name].present:
      FLAGS[name].value = value


def main(_):
  _apply_preset()
  if FLAGS.towers > 1 and FLAGS.batch_norm:
    # Each tower would normalise by its own slice's statistics and update
    # the moving averages in place, racing the others.
    sys.exit('res_mnist.py: error: --towers=%d does not go with --batch_norm '
             '(towers would race to update its moving averages); use '
             '--towers=1' % FLAGS.towers)
  try:
    mnist = input_data.read_data_sets(
        FLAGS.data_dir, one_hot=True, validation_size=FLAGS.validation_size,
        seed=FLAGS.seed,
        sha256=input_data.MNIST_SHA256 if FLAGS.check_sha256 else None)
    if FLAGS.eval_every and not FLAGS.validation_size:
      raise input_data.DataError('--eval_every needs a validation split '
                                 '(--validation_size > 0)')
    try:
      os.makedirs(os.path.join(FLAGS.model_dir, 'best'), exist_ok=True)
    except OSError as e:
      raise checkpoints.CheckpointError('%s: cannot create the model '
                                        'directory (%s)'
                                        % (FLAGS.model_dir, e.strerror or e))
    if not os.access(FLAGS.model_dir, os.W_OK):
      raise checkpoints.CheckpointError('%s: the model directory is not '
                                        'writable' % FLAGS.model_dir)
    max_steps = FLAGS.max_steps
    if FLAGS.epochs:
      max_steps = int(math.ceil(FLAGS.epochs * mnist.train.num_examples
                                / FLAGS.batch_size))
    train(mnist, max_steps)
  except (input_data.DataError, checkpoints.CheckpointError, TrainingError) as e:
    sys.exit('res_mnist.py: error: %s' % e)
  except Interrupted as e:
    print('res_mnist.py: interrupted by %s' % e, file=sys.stderr)
    sys.exit(128 + e.signum)
  except KeyboardInterrupt:
    print('res_mnist.py: interrupted before training started; nothing to '
          'save', file=sys.stderr)
    sys.exit(130)


if __name__ == '__main__':
  cli.run(main)
