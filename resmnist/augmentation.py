"""Random distortions of the training images, as a `Recipe` asks for them.

    images = augmentation.augmented(recipe, x)   # x: [batch, 784] in [0, 1]

`res_mnist.py` puts them between its input placeholder and the network
(--augment, --elastic, --cutout, --random_erasing); evaluation reads the
images as they are.
"""
import math

import numpy as np
from scipy import ndimage
import tensorflow.compat.v1 as tf

from resmnist import input_data
from resmnist.input_data import IMAGE_PIXELS, IMAGE_SIZE

# Augmentation ranges: small enough that a 6 stays a 6 and a 1 a 1.
MAX_ROTATION_DEGREES = 10.0
MAX_SHIFT_PIXELS = 2.0
MAX_SCALE_CHANGE = 0.1
# Smoothness of elastic distortions' displacement fields, in pixels (Simard
# et al. 2003: 4 for MNIST).
ELASTIC_SIGMA = 4.0


def distort_images(images, seed=None, *,
                   max_rotation_degrees=MAX_ROTATION_DEGREES,
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


def augmented(recipe, images):
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
