"""Recognises handwritten digits in your own image files.

    python res_mnist_predict.py my_digit.png other.jpg
    python res_mnist_predict.py --show_dir=seen my_digit.png   # also writes seen/my_digit.png

For each file (PNG, JPEG, BMP or GIF; any size; colour or grey; a dark digit
on light paper or a light digit on dark) it prints the predicted digit and
the three most probable digits. The image is first made to look like an
MNIST digit, as MNIST itself was made: grey, inverted if the background is
light, contrast stretched, cropped to the digit, scaled to fit a 20x20 box
keeping its aspect ratio, and placed in 28x28 with its centre of mass in the
middle. --show_dir writes that 28x28 image, so you can see what the network
saw. A file that cannot be read is reported in one line; the others are
still processed, and the exit status is 1.
"""
import os
import sys

from resmnist import slim  # noqa: F401  (readies TensorFlow first)
from absl import flags
import numpy as np
import tensorflow.compat.v1 as tf

from resmnist import checkpoints
from resmnist import cli
from resmnist import common_flags
from resmnist import input_data
from resmnist import loader
from resmnist import model_dir

common_flags.define_model_dir_flags(checkpoint_path=True)
common_flags.define_net_flag(None)
flags.DEFINE_string('show_dir', None, 'If set, write the 28x28 image the '
                    'network saw for each file there, as PNG.')

FLAGS = flags.FLAGS

DIGIT_BOX = 20  # MNIST digits fit in 20x20, centred by mass in 28x28
STROKE_THRESHOLD = 0.2  # of the stretched range: what counts as ink
MIN_CONTRAST = 0.1  # below this the image is taken as blank


class ImageError(Exception):
  """An image file cannot be read or holds no digit."""


class Preprocessor(object):
  """Decodes image bytes with TensorFlow and makes a 28x28 MNIST-like digit."""

  def __init__(self):
    self._graph = tf.Graph()
    with self._graph.as_default():
      self._contents = tf.placeholder(tf.string, [])
      self._decoded = tf.io.decode_image(self._contents, expand_animations=False)
      self._crop = tf.placeholder(tf.float32, [None, None, 1])
      self._size = tf.placeholder(tf.int32, [2])
      # TF2's resize: antialiased when shrinking, like MNIST's own scaling.
      self._resized = tf.compat.v2.image.resize(self._crop, self._size,
                                                method='bilinear',
                                                antialias=True)
      self._digit = tf.placeholder(tf.float32, [None, None])
      self._png = tf.io.encode_png(tf.cast(tf.round(
          self._digit * 255), tf.uint8)[:, :, None])
    self._sess = tf.Session(graph=self._graph)

  def _decode(self, contents):
    try:
      image = self._sess.run(self._decoded, {self._contents: contents})
    except tf.errors.InvalidArgumentError as e:
      if 'Unknown image file format' in e.message:
        raise ImageError('not an image (PNG, JPEG, BMP or GIF expected)')
      raise ImageError('cannot decode the image (%s)'
                       % e.message.strip().splitlines()[0])
    image = image.astype(np.float32) / 255.0
    channels = image.shape[2]
    alpha = image[:, :, -1:] if channels in (2, 4) else 1.0
    colour = image[:, :, :3] if channels >= 3 else image[:, :, :1]
    if colour.shape[2] == 3:
      colour = colour @ np.array([[0.299], [0.587], [0.114]], np.float32)
    # Transparent pixels count as white paper.
    return (colour * alpha + (1.0 - alpha))[:, :, 0]

  def __call__(self, contents):
    """Returns a float32 `[28, 28]` digit, white on black, in [0, 1]."""
    if not contents:
      raise ImageError('empty file')
    grey = self._decode(contents)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > 0.5:  # dark ink on light paper: MNIST is inverted
      grey = 1.0 - grey
      border = 1.0 - border
    background = np.median(border)
    contrast = grey.max() - background
    if contrast < MIN_CONTRAST:
      raise ImageError('no digit found (the image is blank)')
    ink = np.clip((grey - background) / contrast, 0.0, 1.0)
    rows = np.nonzero((ink > STROKE_THRESHOLD).any(axis=1))[0]
    cols = np.nonzero((ink > STROKE_THRESHOLD).any(axis=0))[0]
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = DIGIT_BOX / max(crop.shape)
    size = [max(1, int(round(crop.shape[0] * scale))),
            max(1, int(round(crop.shape[1] * scale)))]
    digit = self._sess.run(self._resized, {self._crop: crop[:, :, None],
                                           self._size: size})[:, :, 0]
    digit = np.clip(digit, 0.0, 1.0)
    canvas = np.zeros((input_data.IMAGE_SIZE, input_data.IMAGE_SIZE), np.float32)
    mass = digit.sum()
    centre_row = (digit.sum(axis=1) @ np.arange(size[0])) / mass
    centre_col = (digit.sum(axis=0) @ np.arange(size[1])) / mass
    middle = (input_data.IMAGE_SIZE - 1) / 2.0
    top = int(np.clip(round(middle - centre_row), 0, input_data.IMAGE_SIZE - size[0]))
    left = int(np.clip(round(middle - centre_col), 0, input_data.IMAGE_SIZE - size[1]))
    canvas[top:top + size[0], left:left + size[1]] = digit
    return canvas


  def write_png(self, path, image):
    """Writes a `[28, 28]` float image in [0, 1] as an 8-bit grey PNG."""
    with open(path, 'wb') as f:
      f.write(self._sess.run(self._png, {self._digit: image}))


def main(argv):
  paths = argv[1:]
  if not paths:
    sys.exit('res_mnist_predict.py: error: give one or more image files, e.g. '
             '`python res_mnist_predict.py my_digit.png`')
  try:
    model = loader.load(FLAGS.model_dir, FLAGS.checkpoint_path, net=FLAGS.net)
    class_names = input_data.DATASETS[model.info.get('dataset',
                                                     'mnist')].class_names
    if FLAGS.show_dir:
      os.makedirs(FLAGS.show_dir, exist_ok=True)
  except (checkpoints.CheckpointError, model_dir.ModelDirError) as e:
    sys.exit('res_mnist_predict.py: error: %s' % e)
  except OSError as e:
    sys.exit('res_mnist_predict.py: error: %s: cannot create it (%s)'
             % (FLAGS.show_dir, e.strerror or e))

  preprocess = Preprocessor()
  failures = 0
  for path in paths:
    try:
      try:
        with open(path, 'rb') as f:
          contents = f.read()
      except OSError as e:
        raise ImageError('cannot read it (%s)' % (e.strerror or e))
      digit = preprocess(contents)
    except ImageError as e:
      print('res_mnist_predict.py: error: %s: %s' % (path, e), file=sys.stderr)
      failures += 1
      continue
    p = model.predict(digit.reshape(1, -1))[0]
    top3 = np.argsort(-p)[:3]
    print('%s: %s  (%s)' % (path, class_names[top3[0]], ', '.join(
        '%s: %.1f%%' % (class_names[d], 100 * p[d]) for d in top3)))
    if FLAGS.show_dir:
      name = os.path.splitext(os.path.basename(path))[0] + '.png'
      preprocess.write_png(os.path.join(FLAGS.show_dir, name), digit)
  model.close()
  if failures:
    sys.exit(1)


if __name__ == '__main__':
  cli.run(main)
