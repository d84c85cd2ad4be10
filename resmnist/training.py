"""The training graph of a `Recipe`: augmentation, the loss, the schedule
and the update, for any network function (`nets_factory.network_fns`).

    graph = training.build_training_graph(recipe, network_fn)
    session.run(graph.train_op, {graph.images: x, graph.labels: y})

`loss`, `minimize` and `evaluation` are the post's (its `res_mnist_inference`
exposes them as `loss`, `training` and `evaluation`), used for every
network. The loop that runs the graph is `trainer.train`.
"""
import collections
import math

import numpy as np
from scipy import ndimage
import tensorflow.compat.v1 as tf

from resmnist import errors
from resmnist import input_data
from resmnist.input_data import IMAGE_PIXELS, IMAGE_SIZE, NUM_CLASSES

# Augmentation ranges: small enough that a 6 stays a 6 and a 1 a 1.
MAX_ROTATION_DEGREES = 10.0
MAX_SHIFT_PIXELS = 2.0
MAX_SCALE_CHANGE = 0.1
# Smoothness of elastic distortions' displacement fields, in pixels (Simard
# et al. 2003: 4 for MNIST).
ELASTIC_SIGMA = 4.0


class TrainingError(errors.Error):
  """Training cannot go on (e.g. the loss is no longer finite)."""


def distort_images(images, seed=None, max_rotation_degrees=MAX_ROTATION_DEGREES,
                   max_shift_pixels=MAX_SHIFT_PIXELS,
                   max_scale_change=MAX_SCALE_CHANGE, flip=False,
                   whole_pixels=False):
  """Random rotation, scaling and shift of each image of a `[B, 784]` batch.

  One projective transform per image (`ImageProjectiveTransformV3`, bilinear,
  black outside), each parameter drawn uniformly within its range; with
  `whole_pixels`, the shifts are whole numbers of pixels (with no rotation
  or scaling, the pixels are moved, not resampled); with `flip`, half the
  images are first mirrored left to right.
  """
  batch = tf.shape(images)[0]
  if flip:
    images = tf.reshape(tf.image.random_flip_left_right(
        tf.reshape(images, [-1, IMAGE_SIZE, IMAGE_SIZE, 1]), seed=seed),
                        [-1, IMAGE_PIXELS])
  angle = tf.random.uniform([batch], -1.0, 1.0, seed=seed) * (
      max_rotation_degrees * math.pi / 180)
  scale = 1.0 + tf.random.uniform([batch], -1.0, 1.0, seed=seed) * max_scale_change
  if whole_pixels:
    limit = int(max_shift_pixels)
    shift = tf.cast(tf.random.uniform([batch, 2], -limit, limit + 1,
                                      dtype=tf.int32, seed=seed), tf.float32)
  else:
    shift = tf.random.uniform([batch, 2], -1.0, 1.0, seed=seed) * max_shift_pixels
  # The transform maps output pixel (x, y) to the input pixel it samples:
  # input = R(-angle) (output - centre) / scale + centre - shift.
  centre = (IMAGE_SIZE - 1) / 2.0
  cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
  a2 = centre - cos * centre - sin * centre - shift[:, 0]
  b2 = centre + sin * centre - cos * centre - shift[:, 1]
  zeros = tf.zeros([batch])
  transforms = tf.stack([cos, sin, a2, -sin, cos, b2, zeros, zeros], axis=1)
  images = tf.reshape(images, [-1, IMAGE_SIZE, IMAGE_SIZE, 1])
  distorted = tf.raw_ops.ImageProjectiveTransformV3(
      images=images, transforms=transforms,
      output_shape=[IMAGE_SIZE, IMAGE_SIZE],
      fill_value=0.0, interpolation='BILINEAR', fill_mode='CONSTANT')
  return tf.reshape(distorted, [-1, IMAGE_PIXELS])


def elastic_distort(images, alpha, sigma=ELASTIC_SIGMA, seed=None):
  """Elastic distortion (Simard et al. 2003) of each image of a `[B, 784]`
  batch: every pixel moved by a random displacement field, uniform in
  [-1, 1] per pixel, smoothed by a Gaussian of `sigma` pixels and scaled by
  `alpha` (Simard: 34 and 4), sampled bilinearly (scipy's `ndimage`). The
  field is drawn from a seed that TensorFlow's random ops draw, so that a
  graph seed makes runs repeat."""
  def distort(batch, batch_seed):
    rng = np.random.default_rng(batch_seed)
    digits = batch.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    fields = ndimage.gaussian_filter(
        rng.uniform(-1.0, 1.0, (2,) + digits.shape), (0, 0, sigma, sigma))
    index, rows, cols = np.meshgrid(np.arange(len(digits)),
                                    np.arange(IMAGE_SIZE),
                                    np.arange(IMAGE_SIZE), indexing='ij')
    moved = ndimage.map_coordinates(
        digits, [index, rows + alpha * fields[0], cols + alpha * fields[1]],
        order=1, mode='constant')
    return moved.reshape(-1, IMAGE_PIXELS).astype(np.float32)

  batch_seed = tf.random.uniform([], maxval=2 ** 31 - 1, dtype=tf.int64,
                                 seed=seed)
  distorted = tf.numpy_function(distort, [images, batch_seed], tf.float32,
                                stateful=False)
  distorted.set_shape(images.shape)
  return distorted


def cut_out(images, size, seed=None):
  """Cutout (DeVries and Taylor 2017): each image of a `[B, 784]` batch
  with a `size` x `size` square of zeros at a random centre, clipped at the
  border, so that no one part of an image is relied on."""
  centres = tf.random.uniform([tf.shape(images)[0], 2], 0, IMAGE_SIZE,
                              dtype=tf.int32, seed=seed)
  pixels = tf.range(IMAGE_SIZE)

  def inside(axis):  # [B, 28]: which rows (0) or columns (1) the square covers
    offset = pixels[None, :] - centres[:, axis:axis + 1]
    return (offset >= -(size // 2)) & (offset < size - size // 2)

  square = inside(0)[:, :, None] & inside(1)[:, None, :]
  return images * tf.reshape(1.0 - tf.cast(square, tf.float32),
                             [-1, IMAGE_PIXELS])


def random_erase(images, probability, seed=None):
  """Random Erasing (Zhong et al. 2017): with `probability`, each image of a
  `[B, 784]` batch gets a rectangle of uniform noise covering 2-40% of it,
  of aspect ratio 0.3-3.3 (log-uniform), inside the image (a side longer
  than the image is cut to it), so that an occluded garment is still seen."""
  batch = tf.shape(images)[0]
  area = tf.random.uniform([batch], 0.02, 0.4, seed=seed) * IMAGE_PIXELS
  ratio = tf.exp(tf.random.uniform([batch], math.log(0.3), -math.log(0.3),
                                   seed=seed))
  pixels = tf.range(IMAGE_SIZE, dtype=tf.float32)

  def inside(side):  # [B, 28]: the rows or columns the rectangle covers
    side = tf.minimum(tf.round(side), IMAGE_SIZE)
    start = tf.floor(tf.random.uniform([batch], seed=seed) *
                     (IMAGE_SIZE - side + 1))
    return ((pixels[None, :] >= start[:, None])
            & (pixels[None, :] < (start + side)[:, None]))

  erased = (inside(tf.sqrt(area * ratio))[:, :, None]
            & inside(tf.sqrt(area / ratio))[:, None, :]
            & (tf.random.uniform([batch], seed=seed) < probability)[:, None,
                                                                   None])
  noise = tf.random.uniform([batch, IMAGE_SIZE, IMAGE_SIZE], seed=seed)
  images = tf.reshape(images, [-1, IMAGE_SIZE, IMAGE_SIZE])
  return tf.reshape(tf.where(erased, noise, images), [-1, IMAGE_PIXELS])


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


TrainingGraph = collections.namedtuple(
    'TrainingGraph', 'images labels train_op cross_entropy global_step '
    'learning_rate summary_op best_accuracy sync_optimizer network_input '
    'logits')


def loss(logits, labels):
  """Mean softmax cross-entropy of `logits` against one-hot `labels`.

  As the original: `sparse_softmax_cross_entropy_with_logits` on the argmax
  of the labels. Weight decay, if any, is not in it; add
  `tf.losses.get_regularization_loss()` for the loss to minimise.
  """
  return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.argmax(labels, 1), logits=logits), name='cross_entropy')


def minimize(total_loss, learning_rate, global_step, optimizer=None):
  """Adam on `total_loss`; returns the train op, a tensor of the new step.

  `optimizer` replaces Adam at `learning_rate`, e.g. a
  `tf.train.SyncReplicasOptimizer` wrapping it (distributed training).

  GATE_NONE: the default GATE_OP wraps each op's gradients in identities,
  which stops oneDNN from fusing BiasAddGrad into the filter gradient and
  serialises the backward pass (same math; docs/speed.md). Ungated, Adam
  may update a weight while the backward pass still needs it, so the
  variables must be resource variables (their reads keep the value they
  read): build the network under `variable_scope(..., use_resource=True)`.

  Like slim's `create_train_op`, the train op is the global step read after
  the update (fetching `global_step` beside it could read the resource
  variable before the increment).
  """
  optimizer = optimizer or tf.train.AdamOptimizer(learning_rate)
  update = optimizer.minimize(
      total_loss, global_step=global_step,
      gate_gradients=tf.train.Optimizer.GATE_NONE)
  with tf.control_dependencies([update]):
    return global_step.read_value()


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


def evaluation(logits, labels):
  """Returns the number of rows where the top logit is the one-hot label."""
  correct = tf.equal(tf.argmax(logits, 1), tf.argmax(labels, 1))
  return tf.reduce_sum(tf.cast(correct, tf.int32))


def _augmented(recipe, images):
  """`images` as `recipe` distorts them for training (`augment`, `elastic`,
  `cutout`, `random_erasing`)."""
  distorted = images
  if recipe.augment and input_data.DATASETS[recipe.dataset].mirror_invariant:
    # Clothes: flips and whole-pixel shifts, the pad-and-crop of the
    # Fashion-MNIST literature. Rotation, scaling and resampling, which
    # help on digits, cost clothes accuracy (docs/zoo.md).
    distorted = distort_images(images, max_rotation_degrees=0.0,
                               max_scale_change=0.0, flip=True,
                               whole_pixels=True)
  elif recipe.augment:
    # A mirrored digit is not that digit: no flips.
    distorted = distort_images(images)
  if recipe.elastic:
    distorted = elastic_distort(distorted, recipe.elastic)
  if recipe.cutout:
    distorted = cut_out(distorted, recipe.cutout)
  if recipe.random_erasing:
    distorted = random_erase(distorted, recipe.random_erasing)
  return distorted


def build_training_graph(recipe, network_fn, sync_replicas=0):
  """The training step of `recipe` with `network_fn`, in the default graph.

  `network_fn(images)` -> (logits, end_points) is the network as it trains:
  dropout and batch statistics on, `recipe.towers` towers
  (`nets_factory.network_fns`).

  With `sync_replicas` > 0, each update averages the gradients of that many
  workers (`tf.train.SyncReplicasOptimizer`, then `sync_optimizer`, whose
  session hook each worker needs); else updates are applied as they come.

  Dropout, batch norm (batch statistics, moving averages updated in place),
  augmentation and cutout are on unconditionally: evaluation has a graph of
  its own (`loader.EvalModel`). Running `train_op` trains one step and returns
  the new global step; `cross_entropy` is the loss without weight decay
  (against smoothed labels with `recipe.label_smoothing`);
  `best_accuracy` is the best validation accuracy so far (-1 at first);
  `network_input` is what the network reads (`images` after augmentation
  and cutout; feeding it skips them), `logits` what it outputs.
  """
  if recipe.seed is not None:
    tf.set_random_seed(recipe.seed)
  images = tf.placeholder(tf.float32, [None, IMAGE_PIXELS], name='x-input')
  labels = tf.placeholder(tf.float32, [None, NUM_CLASSES], name='y-input')
  distorted = _augmented(recipe, images)
  # Resource variables: see `minimize`.
  with tf.variable_scope(tf.get_variable_scope(), use_resource=True):
    logits = network_fn(distorted)[0]
    global_step = tf.train.get_or_create_global_step()
  if recipe.label_smoothing:
    # The smoothed loss, which is what the log and summaries show then.
    cross_entropy = tf.losses.softmax_cross_entropy(
        labels, logits, label_smoothing=recipe.label_smoothing,
        loss_collection=None)
  else:
    cross_entropy = loss(logits, labels)
  learning_rate = configure_learning_rate(recipe, global_step)
  sync_optimizer = None
  if sync_replicas:
    sync_optimizer = tf.train.SyncReplicasOptimizer(
        tf.train.AdamOptimizer(learning_rate),
        replicas_to_aggregate=sync_replicas, total_num_replicas=sync_replicas)
  train_op = minimize(cross_entropy + tf.losses.get_regularization_loss(),
                      learning_rate, global_step, sync_optimizer)
  train_op = average_weights(recipe, train_op, global_step)
  batch_accuracy = tf.cast(evaluation(logits, labels),
                           tf.float32) / tf.cast(tf.shape(images)[0], tf.float32)
  tf.summary.scalar('loss', cross_entropy)
  tf.summary.scalar('accuracy', batch_accuracy)
  tf.summary.scalar('learning_rate', learning_rate)
  # Kept in every checkpoint, so that a resumed run knows what "best" means
  # (`ValidationHook`), also when only the resumed run has --eval_every.
  best_accuracy = tf.Variable(-1.0, trainable=False, use_resource=True,
                              name='best_validation_accuracy')
  return TrainingGraph(images, labels, train_op, cross_entropy, global_step,
                       learning_rate, tf.summary.merge_all(), best_accuracy,
                       sync_optimizer, distorted, logits)
