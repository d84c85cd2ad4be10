"""How well res_mnist_predict.py reads digits from photo-like images.

    python bench/photo_digits.py --model_dir=model     # 3-4 minutes on 2 cores

It draws, from MNIST's *test* digits, seeded, three sets of images:

  clean    each digit as black ink on white paper, saved as PNG;
  photo    the same digits, at the same size, angle, blur and place, as a
           phone photo of a page: coloured paper and ink, a lighting
           gradient, a soft shadow, noise, saved as JPEG or PNG;
  numbers  numbers of 2 to 6 other test digits in a row, on paper like the
           photos', at several digit heights and spacings.

Every image goes through the preprocessing of res_mnist_predict.py
(`resmnist.photo`), and the model of --model_dir reads it. Printed: the
accuracy on clean and on photo-like paper, the share of numbers read whole
(as many digits as drawn, every one right), and, for a few values of
res_mnist_predict.py's --min_confidence, how many digits it would call
unsure and how many of the wrong answers are among them. --save_dir writes
the images (named by their digits), to look at them or to give them to
res_mnist_predict.py.
"""
import collections
import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from resmnist import cli  # noqa: E402
cli.start()  # before TensorFlow loads, as the scripts do

from absl import flags  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

from nets import models  # noqa: E402
from resmnist import common_flags  # noqa: E402
from resmnist import errors  # noqa: E402
from resmnist import photo  # noqa: E402

common_flags.define_model_dir_flags()
common_flags.define_data_flags()
flags.DEFINE_integer('digits', 2000, 'Test digits drawn, clean and photo-like.',
                     lower_bound=1)
flags.DEFINE_integer('numbers', 300, 'Numbers drawn.', lower_bound=1)
flags.DEFINE_integer('seed', 1, 'Seed of the drawing.')
flags.DEFINE_multi_float('min_confidence', [0.5, 0.7, 0.9], 'Thresholds to '
                         'try for res_mnist_predict.py\'s flag: below it, a '
                         'digit is "unsure".')
flags.DEFINE_string('save_dir', None, 'If set, write the images there.')
flags.DEFINE_bool('calibrated', True, 'Read with the model\'s temperature, '
                  'as res_mnist_predict.py does; --nocalibrated: with the '
                  'probabilities as trained.')
flags.DEFINE_multi_enum('reader', ['plain', 'tta'], ['plain', 'tta'],
                        'Readers compared on the same images, each image '
                        'read by each in turn: plain, or with test-time '
                        'augmentation (res_mnist_predict.py\'s --tta).')

FLAGS = flags.FLAGS

NUMBER_HEIGHTS = (24, 40, 64)  # pixels per MNIST 20-pixel digit box
NUMBER_GAPS = (0.05, 0.2, 0.5)  # between digits, in digit heights
PAPERS = np.array([[0.96, 0.96, 0.94], [0.97, 0.93, 0.80], [0.99, 0.93, 0.55],
                   [0.82, 0.89, 0.97], [0.97, 0.83, 0.86], [0.86, 0.95, 0.80],
                   [0.83, 0.82, 0.78]], np.float32)  # white, cream, yellow...
INKS = np.array([[0.08, 0.08, 0.10], [0.10, 0.15, 0.50], [0.50, 0.08, 0.10],
                 [0.10, 0.35, 0.15], [0.30, 0.30, 0.33]], np.float32)


def _transformed(digit, scale, degrees):
  """A 28x28 MNIST digit scaled and rotated, bilinear: `[S, S]` in [0, 1]."""
  size = int(math.ceil(28 * scale * 1.2))
  rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) - (size - 1) / 2
  angle = math.radians(degrees)
  # Where each output pixel comes from in the 28x28 image.
  src_row = (math.cos(angle) * rows - math.sin(angle) * cols) / scale + 13.5
  src_col = (math.sin(angle) * rows + math.cos(angle) * cols) / scale + 13.5
  padded = np.pad(digit.reshape(28, 28), 1)
  src_row = np.clip(src_row + 1, 0, 28.999)
  src_col = np.clip(src_col + 1, 0, 28.999)
  r, c = src_row.astype(int), src_col.astype(int)
  fr, fc = src_row - r, src_col - c
  return ((1 - fr) * (1 - fc) * padded[r, c] + (1 - fr) * fc * padded[r, c + 1]
          + fr * (1 - fc) * padded[r + 1, c] + fr * fc * padded[r + 1, c + 1])


def _blur(image, sigma):
  """Gaussian blur of `[H, W]`, edges repeated."""
  if sigma < 0.3:
    return image
  radius = int(math.ceil(3 * sigma))
  weights = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
  weights /= weights.sum()
  for _ in range(2):  # rows, then columns (transposed)
    padded = np.pad(image, ((radius, radius), (0, 0)), mode='edge')
    image = sum(w * padded[i:i + image.shape[0]]
                for i, w in enumerate(weights)).T
  return image


def _paste(page, patch, top, left):
  page[top:top + patch.shape[0], left:left + patch.shape[1]] = np.maximum(
      page[top:top + patch.shape[0], left:left + patch.shape[1]], patch)


def _light(rng, height, width):
  """Light falling on a page: a gradient and a soft-edged shadow, `[H, W]`."""
  rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
  angle = rng.uniform(0, 2 * math.pi)
  along = math.cos(angle) * rows + math.sin(angle) * cols
  along = (along - along.min()) / max(np.ptp(along), 1)
  light = 1 - rng.uniform(0.2, 0.6) * along
  # The shadow of a hand or a phone: a half-plane with a blurred edge.
  angle = rng.uniform(0, 2 * math.pi)
  across = (math.cos(angle) * (rows - rng.uniform(0, height))
            + math.sin(angle) * (cols - rng.uniform(0, width)))
  softness = rng.uniform(0.05, 0.3) * max(height, width)
  light *= 1 - rng.uniform(0.3, 0.6) / (1 + np.exp(-across / softness))
  return light * rng.uniform(0.8, 1.05)


def _photo(rng, ink):
  """Ink coverage `[H, W]` -> an RGB photo-like page, uint8."""
  paper = PAPERS[rng.randint(len(PAPERS))]
  colour = INKS[rng.randint(len(INKS))]
  reflected = paper * (1 - ink[:, :, None]) + colour * ink[:, :, None]
  image = reflected * _light(rng, *ink.shape)[:, :, None]
  image += rng.normal(0, rng.uniform(0.01, 0.05), image.shape)
  return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def _clean(ink):
  """Ink coverage -> black ink on white paper, uint8 grey `[H, W, 1]`."""
  return np.round((1 - ink[:, :, None]) * 255).astype(np.uint8)


def draw_digit(rng, digit):
  """One digit on a page, as ink coverage `[H, W]`."""
  scale = rng.uniform(1.2, 5.0)
  patch = _blur(_transformed(digit, scale, rng.uniform(-10, 10)),
                rng.uniform(0, 0.5) * scale)
  size = patch.shape[0]
  page = np.zeros((int(size * rng.uniform(1.2, 2.0)),
                   int(size * rng.uniform(1.2, 2.0))), np.float32)
  _paste(page, patch, rng.randint(page.shape[0] - size + 1),
         rng.randint(page.shape[1] - size + 1))
  return page


def draw_number(rng, digits, height, gap):
  """Digits in a row, `height` pixels per MNIST digit box, `gap` heights
  apart, on a page with margins: ink coverage `[H, W]`."""
  scale = height / 20.0
  patches = []
  for digit in digits:
    patch = _blur(_transformed(digit, scale * rng.uniform(0.9, 1.1),
                               rng.uniform(-8, 8)), rng.uniform(0, 0.4) * scale)
    cols = np.nonzero((patch > 0.1).any(axis=0))[0]
    patches.append(patch[:, cols[0]:cols[-1] + 1])
  margin = int(height * rng.uniform(0.3, 1.0))
  width = (sum(p.shape[1] for p in patches)
           + int(gap * height) * (len(digits) - 1))
  rows = max(p.shape[0] for p in patches)
  jitter = int(0.05 * height) + 1
  page = np.zeros((rows + 2 * margin + jitter, width + 2 * margin), np.float32)
  left = margin
  for patch in patches:
    _paste(page, patch, margin + rng.randint(jitter), left)
    left += patch.shape[1] + int(gap * height)
  return page


class _Encoder(object):
  """PNG and JPEG encoding, as a camera or an image editor would save."""

  def __init__(self):
    self._graph = tf.Graph()
    with self._graph.as_default():
      self._pixels = tf.placeholder(tf.uint8, [None, None, None])
      self._quality = tf.placeholder(tf.int32, [])
      self._png = tf.io.encode_png(self._pixels)
      self._jpeg = tf.raw_ops.EncodeJpegVariableQuality(
          images=self._pixels, quality=self._quality)
    self._sess = tf.Session(graph=self._graph)

  def __call__(self, pixels, quality=None):
    """PNG bytes, or JPEG bytes of that quality."""
    if quality is None:
      return self._sess.run(self._png, {self._pixels: pixels})
    return self._sess.run(self._jpeg, {self._pixels: pixels,
                                       self._quality: quality})


def _save(contents, name, quality):
  """--save_dir: writes an image file as it was read."""
  path = os.path.join(FLAGS.save_dir, name + (
      '.png' if quality is None else '.jpg'))
  try:
    with open(path, 'wb') as f:
      f.write(contents)
  except OSError as e:
    raise errors.Error('%s: cannot write it (%s)' % (path, e.strerror or e))


def _classifiers(model):
  """{--reader: classify function}."""
  def plain(digits):
    return model.predict(digits.reshape(len(digits), -1))
  return {name: {'plain': plain, 'tta': photo.test_time_augmented(plain)}[
      name] for name in FLAGS.reader}


def _draw_and_read(rng, test, labels, *, model, seconds):
  """Draws the digits and numbers and reads them as res_mnist_predict.py
  does, with each --reader: (test indices of the single digits, what was
  read of them on clean and on photo-like paper, and for each number (test
  indices, digit height, gap, what was read)). Each reading is {reader: top
  probabilities `[N, 10]` of the digits found, left to right}; the seconds
  each image took go to `seconds[reader]`."""
  chosen = rng.permutation(test.num_examples)
  encode, reader = _Encoder(), photo.Reader()
  classifiers = _classifiers(model)

  def read(pixels, quality, name):
    contents = encode(pixels, quality)
    if FLAGS.save_dir:
      _save(contents, name, quality)
    found = {}
    for kind, classify in classifiers.items():
      start = time.perf_counter()
      try:
        found[kind] = reader.read(contents, classify).probabilities
      except photo.ImageError:
        found[kind] = np.zeros((0, 10))
      seconds[kind].append(time.perf_counter() - start)
    return found

  def quality():  # a third PNG, the rest JPEG of a phone's or an editor's
    return None if rng.rand() < 0.3 else rng.randint(60, 96)

  single = chosen[:FLAGS.digits]
  clean, photos = [], []
  for i in single:
    ink = draw_digit(rng, test.images[i])
    clean.append(read(_clean(ink), None, 'clean%05d_%d' % (i, labels[i])))
    photos.append(read(_photo(rng, ink), quality(),
                       'photo%05d_%d' % (i, labels[i])))
  numbers = []
  pool = chosen[FLAGS.digits:]
  for n in range(FLAGS.numbers):
    indices = pool[rng.randint(len(pool), size=2 + n % 5)]
    height = NUMBER_HEIGHTS[n // 5 % len(NUMBER_HEIGHTS)]
    gap = NUMBER_GAPS[n // 15 % len(NUMBER_GAPS)]
    ink = draw_number(rng, test.images[indices], height, gap)
    numbers.append((indices, height, gap, read(
        _photo(rng, ink), quality(),
        'number%03d_%s' % (n, ''.join(str(labels[i]) for i in indices)))))
  reader.close()
  return single, clean, photos, numbers


def _report_digits(single, clean, photos, labels):
  accuracy = {}
  for name, found in (('clean paper', clean), ('photo-like paper', photos)):
    # One digit found, and the right one.
    right = [len(p) == 1 and p[0].argmax() == labels[i]
             for i, p in zip(single, found)]
    accuracy[name] = 100.0 * np.mean(right)
    print('%-18s accuracy %.2f%% (%d/%d)' % (name, accuracy[name], sum(right),
                                            len(right)))
  print('%-18s %+.2f points' % ('photo - clean', accuracy['photo-like paper']
                                - accuracy['clean paper']))


def _report_numbers(numbers, labels):
  whole = {}
  for indices, height, gap, found in numbers:
    ok = (len(found) == len(indices)
          and (found.argmax(axis=1) == labels[indices]).all())
    for key in ('all', '%d digits' % len(indices), '%d px' % height,
                'gap %.2f' % gap):
      whole.setdefault(key, []).append(ok)
  read_whole = whole.pop('all')
  miscounted = sum(len(found) != len(indices)
                   for indices, _, _, found in numbers)
  print('%-18s %.1f%% (%d/%d); %d with too few or too many digits found'
        % ('numbers read whole', 100.0 * np.mean(read_whole), sum(read_whole),
           len(read_whole), miscounted))
  print('  by digits, digit height and gap (in heights): ' + ', '.join(
      '%s %.0f%%' % (key, 100.0 * np.mean(oks))
      for key, oks in sorted(whole.items(), key=lambda item: (
          item[0][0].isalpha(), item[0].endswith('px'), item[0]))))


def _report_confidence(single, photos, numbers, labels):
  """--min_confidence: how many digits (photo-like ones and numbers' ones,
  where as many digits were found as drawn) it would call unsure, and how
  many of the wrong answers are among them."""
  read = [(p[0], labels[i]) for i, p in zip(single, photos) if len(p) == 1]
  for indices, _, _, found in numbers:
    if len(found) == len(indices):
      read += list(zip(found, labels[indices]))
  top = np.array([p.max() for p, _ in read])
  wrong = np.array([p.argmax() != label for p, label in read])
  for threshold in FLAGS.min_confidence:
    unsure = top < threshold
    print('--min_confidence=%g: %.1f%% of %d photo-like digits unsure, with '
          '%d of the %d wrong; accuracy of the rest %.2f%%' % (
              threshold, 100.0 * unsure.mean(), len(read),
              (unsure & wrong).sum(), wrong.sum(),
              100.0 * (1 - wrong[~unsure].mean())))


def main(_):
  rng = np.random.RandomState(FLAGS.seed)
  test = common_flags.read_data(FLAGS, 'mnist', validation_size=0).test
  model = models.load_model(FLAGS.model_dir, log=lambda *_: None,
                            calibrated=FLAGS.calibrated)
  if FLAGS.save_dir:
    try:
      os.makedirs(FLAGS.save_dir, exist_ok=True)
    except OSError as e:
      raise errors.Error('%s: cannot create it (%s)'
                         % (FLAGS.save_dir, e.strerror or e))
  labels = test.labels.argmax(axis=1)
  seconds = collections.defaultdict(list)
  single, clean, photos, numbers = _draw_and_read(rng, test, labels,
                                                  model=model, seconds=seconds)
  model.close()
  print('%s (step %d, %s): %d MNIST test digits, %d numbers, seed %d' % (
      model.checkpoint_path, model.step_restored,
      'temperature %.3f' % model.info.temperature if model.info.temperature
      else 'probabilities as trained', len(single), len(numbers), FLAGS.seed))
  for kind in dict.fromkeys(FLAGS.reader):
    print('\n%s reader: %.1f ms per image (median; mean %.1f)' % (
        kind, 1e3 * np.median(seconds[kind]), 1e3 * np.mean(seconds[kind])))
    _report_digits(single, [c[kind] for c in clean],
                   [p[kind] for p in photos], labels)
    _report_numbers([n[:3] + (n[3][kind],) for n in numbers], labels)
    _report_confidence(single, [p[kind] for p in photos],
                       [n[:3] + (n[3][kind],) for n in numbers], labels)


if __name__ == '__main__':
  cli.run(main)
