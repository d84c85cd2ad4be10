"""The learning rate of a `Recipe`, and the averages of the weights.

    learning_rate = optimization.configure_learning_rate(recipe, global_step)
    train_op = optimization.average_weights(recipe, train_op, global_step)

As tf-slim's `train_image_classifier.py`, `_configure_learning_rate`: the
original's `exponential_decay` (the default), a cosine schedule with linear
warm-up, or a constant; with `swa_start`, held from there on. The averages
(--moving_average_decay, --swa_start) are what evaluation restores in
place of the weights (`loader.EvalModel`).
"""
import tensorflow.compat.v1 as tf

def configure_learning_rate(recipe, global_step):
  """The learning rate of `recipe` at `global_step`, as a tensor; with
  `swa_start`, held from there at the value it has then."""
  if recipe.swa_start:
    global_step = tf.minimum(global_step, swa_start_step(recipe))
  if recipe.lr_schedule == 'exponential':
    return tf.train.exponential_decay(recipe.learning_rate, global_step,
                                      recipe.decay_steps,
                                      recipe.learning_rate_decay)
  if recipe.lr_schedule == 'constant':
    return tf.constant(recipe.learning_rate, name='learning_rate')
  if recipe.lr_schedule != 'cosine':
    raise ValueError('unknown lr_schedule %r' % recipe.lr_schedule)
  max_steps = recipe.max_steps
  step = tf.cast(global_step, tf.float32)
  warmup = float(min(recipe.warmup_steps, max_steps - 1))
  cosine = tf.train.cosine_decay(recipe.learning_rate,
                                 tf.maximum(global_step - int(warmup), 0),
                                 max_steps - int(warmup))
  if not warmup:
    return cosine
  return tf.where(step < warmup, recipe.learning_rate * (step + 1) / warmup,
                  cosine)


def swa_start_step(recipe):
  """The last step whose weights `recipe.swa_start` leaves out of the mean."""
  return int(recipe.swa_start * recipe.max_steps)


def swa_decay(new_step, start_step):
  """The decay that makes a moving average the plain mean of the weights
  after steps `start_step` + 1 to `new_step` (the weights themselves
  before): (n - 1) / n for the n-th weights averaged, 0 before."""
  averaged = tf.cast(tf.maximum(new_step - start_step - 1, 0), tf.float32)
  return averaged / (averaged + 1)


def average_weights(recipe, train_op, global_step):
  """`train_op`, then an update of the average of the weights that `recipe`
  asks for: none, exponential (`moving_average_decay`) or SWA's plain mean
  (`swa_start`).

  `tf.train.ExponentialMovingAverage`; with `num_updates` (the global step)
  the decay is min(decay, (1 + step) / (10 + step)), so the first steps are
  not weighed down by the initial weights; SWA's is `swa_decay`. The
  averages are variables named `<weight>/ExponentialMovingAverage`, saved in
  every checkpoint; `loader.EvalModel` restores them in place of the weights.
  """
  if recipe.moving_average_decay:
    averages = tf.train.ExponentialMovingAverage(
        recipe.moving_average_decay, num_updates=global_step)
  elif recipe.swa_start:
    averages = tf.train.ExponentialMovingAverage(
        swa_decay(train_op, swa_start_step(recipe)))
  else:
    return train_op
  with tf.control_dependencies([train_op]):
    update = averages.apply(tf.trainable_variables())
  with tf.control_dependencies([update]):
    return tf.identity(train_op)
