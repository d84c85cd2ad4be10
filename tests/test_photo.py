"""resmnist/photo.py on images drawn here: the page cleaned, numbers split
into digits."""
import numpy as np
import pytest

from conftest import encode_image
from resmnist import photo

# Digits as pen strokes, in a box of height 1 and width 0.7: line segments
# (y0, x0, y1, x1), and for the 0 an ellipse.
GLYPHS = {
    '1': [(0.0, 0.4, 1.0, 0.3)],
    '4': [(0.0, 0.45, 0.65, 0.0), (0.65, 0.0, 0.65, 0.7),
          (0.3, 0.55, 1.0, 0.5)],
    '7': [(0.0, 0.0, 0.0, 0.7), (0.0, 0.7, 1.0, 0.25)],
    '2': [(0.1, 0.05, 0.0, 0.35), (0.0, 0.35, 0.15, 0.65),
          (0.15, 0.65, 1.0, 0.0), (1.0, 0.0, 1.0, 0.7)],
    # A 5 whose cap was lifted off the paper: two pieces.
    '5': [(0.0, 0.15, 0.5, 0.1), (0.5, 0.1, 0.45, 0.6), (0.45, 0.6, 0.95, 0.55),
          (0.95, 0.55, 0.95, 0.0), (0.0, 0.3, 0.0, 0.7)],
    '0': [(0.5 - 0.5 * np.cos(a), 0.35 + 0.35 * np.sin(a),
           0.5 - 0.5 * np.cos(b), 0.35 + 0.35 * np.sin(b))
          for a, b in zip(np.linspace(0, 2 * np.pi, 25)[:-1],
                          np.linspace(0, 2 * np.pi, 25)[1:])],
}
WIDTH = 0.7  # of a glyph, in heights


def _strokes(shape, segments, thickness):
  """Anti-aliased ink coverage `[H, W]` in [0, 1] of pen strokes (pixels)."""
  rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
  distance = np.full(shape, np.inf, np.float32)
  for y0, x0, y1, x1 in segments:
    dy, dx = y1 - y0, x1 - x0
    t = np.clip(((rows - y0) * dy + (cols - x0) * dx)
                / max(dy * dy + dx * dx, 1e-6), 0, 1)
    distance = np.minimum(distance, np.hypot(rows - y0 - t * dy,
                                             cols - x0 - t * dx))
  return np.clip(thickness / 2 + 0.5 - distance, 0, 1)


def _number(digits, height, gap, margin=None):
  """Ink coverage of `digits` in a row, `height` pixels tall, `gap` heights
  apart (negative: overlapping), and the ink's left and right in each."""
  margin = height if margin is None else margin
  step = (WIDTH + gap) * height
  shape = (height + 2 * margin,
           int(2 * margin + len(digits) * step - gap * height) + 1)
  thickness = max(2.0, 0.12 * height)
  segments, spans = [], []
  for i, digit in enumerate(digits):
    left = margin + i * step
    xs = [x * height for _, x0, _, x1 in GLYPHS[digit] for x in (x0, x1)]
    spans.append((left + min(xs) - thickness / 2,
                  left + max(xs) + thickness / 2))
    segments += [(margin + y0 * height, left + x0 * height,
                  margin + y1 * height, left + x1 * height)
                 for y0, x0, y1, x1 in GLYPHS[digit]]
  return _strokes(shape, segments, thickness), spans


def _light(shape, kind):
  """The light falling on a page: 1 everywhere, or uneven."""
  rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
  light = np.ones(shape, np.float32)
  if kind in ('gradient', 'all'):  # darker towards the lower right
    light *= 1 - 0.55 * (rows / shape[0] + cols / shape[1]) / 2
  if kind in ('shadow', 'all'):  # a hand's soft shadow over the left third
    light *= 1 - 0.5 / (1 + np.exp((cols - shape[1] / 3) / (0.08 * shape[1])))
  return light


def _photo(ink, light='none', paper=(1.0, 1.0, 1.0), ink_colour=(0, 0, 0),
           noise=0.0, seed=0):
  """Ink coverage -> uint8 RGB of ink on paper in that light."""
  reflected = (np.array(paper, np.float32) * (1 - ink[:, :, None])
               + np.array(ink_colour, np.float32) * ink[:, :, None])
  image = reflected * _light(ink.shape, light)[:, :, None]
  image += np.random.RandomState(seed).normal(0, noise, image.shape)
  return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def _stretched(image):
  ink = photo.remove_paper(photo.grey(image))
  return ink / ink.max()


def _narrow_only(digits):
  """A network of geometry alone: sure (99%) of a 0 if the image is no
  wider than tall, as one MNIST digit is; unsure (5%) if it is wider."""
  probabilities = np.full((len(digits), 10), 0.95 / 9, np.float32)
  for i, digit in enumerate(digits):
    rows, cols = np.nonzero(digit > photo.STROKE_THRESHOLD)
    wide = np.ptp(cols) > 1.1 * np.ptp(rows)
    probabilities[i, 0] = 0.05 if wide else 0.99
    if not wide:
      probabilities[i, 1:] = 0.01 / 9
  return probabilities


@pytest.fixture(scope='module')
def reader():
  reader = photo.Reader()
  yield reader
  reader.close()


# --- the page --------------------------------------------------------------

@pytest.mark.parametrize('paper, ink_colour', [
    ((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),    # black on white
    ((0.95, 0.93, 0.85), (0.1, 0.1, 0.4))])  # blue on yellowish, as before
def test_clean_page_comes_out_as_before(paper, ink_colour):
  image = _photo(_number('7', 60, 0)[0], paper=paper, ink_colour=ink_colour)
  grey = photo.grey(image)
  # The old preprocessing: the border's median grey taken away, stretched.
  bright = 1 - grey
  background = np.median(np.concatenate([bright[0], bright[-1], bright[:, 0],
                                         bright[:, -1]]))
  before = np.clip((bright - background) / (bright.max() - background), 0, 1)
  np.testing.assert_allclose(_stretched(image), before, atol=1e-5)


@pytest.mark.parametrize('light, paper, noise', [
    ('gradient', (1.0, 1.0, 1.0), 0.0),
    ('shadow', (1.0, 1.0, 1.0), 0.0),
    ('none', (0.85, 0.9, 0.98), 0.04),     # light blue paper, noise
    ('all', (0.98, 0.9, 0.6), 0.03)])      # yellow paper, all of it
def test_uneven_paper_leaves_only_ink(light, paper, noise):
  ink, spans = _number('47', 50, 0.5, margin=60)
  image = _photo(ink, light, paper, ink_colour=(0.1, 0.15, 0.5), noise=noise)
  cleaned = _stretched(image)
  near_ink = np.pad(ink > 0, 4)  # the strokes and 4 pixels around them
  near_ink = np.any([near_ink[4 + dy:4 + dy + ink.shape[0],
                              4 + dx:4 + dx + ink.shape[1]]
                     for dy in range(-4, 5) for dx in range(-4, 5)], axis=0)
  found = cleaned > photo.STROKE_THRESHOLD
  assert not (found & ~near_ink).any()   # nothing but ink is found,
  assert found[ink > 0.9].mean() > 0.95  # all the ink's cores are,
  assert cleaned[~near_ink].max() < 0.1  # and the paper is left blank
  # The 4 is as dark as the 7, whatever the light on each.
  cores = ink > 0.9
  middle = int(spans[1][0])
  assert abs(cleaned[:, :middle][cores[:, :middle]].mean()
             - cleaned[:, middle:][cores[:, middle:]].mean()) < 0.15


def test_light_ink_on_dark_paper():
  ink, _ = _number('1', 40, 0)
  image = np.round(np.repeat(ink[:, :, None], 3, axis=2) * 255).astype(np.uint8)
  drawn = image[:, :, 0] / 255.0
  np.testing.assert_allclose(_stretched(image), drawn / drawn.max(), atol=1e-5)


def test_noise_and_shadow_alone_are_blank(reader):
  image = _photo(np.zeros((120, 160), np.float32), 'all', (0.9, 0.9, 0.85),
                 noise=0.04)
  with pytest.raises(photo.ImageError, match='no digit found'):
    reader.read(encode_image(image, 'png'), _narrow_only)


def test_components_are_8_connected():
  mask = np.array([[1, 0, 0, 1],
                   [0, 1, 0, 1],
                   [0, 0, 0, 0],
                   [1, 1, 0, 1]], bool)
  labels, boxes = photo.components(mask)
  assert labels.max() == 4
  assert labels[0, 0] == labels[1, 1] != labels[0, 3] == labels[1, 3]
  assert len({labels[3, 0], labels[3, 3], labels[0, 0], labels[0, 3]}) == 4
  np.testing.assert_array_equal(boxes[labels[0, 0]], [0, 0, 2, 2])
  np.testing.assert_array_equal(boxes[labels[0, 3]], [0, 3, 2, 4])


# --- numbers ---------------------------------------------------------------

@pytest.mark.parametrize('digits, height, gap', [
    ('17', 20, 0.3), ('704', 40, 0.25), ('2017', 80, 0.5), ('41072', 30, 1.0),
    ('102470', 24, 0.2)])
def test_numbers_split_into_their_digits(reader, digits, height, gap):
  ink, spans = _number(digits, height, gap)
  image = _photo(ink, 'all', (0.97, 0.93, 0.8), (0.1, 0.1, 0.4), noise=0.02)
  page = reader.read(encode_image(image, 'png'), _narrow_only)
  assert len(page.digits) == len(digits)
  for (top, left, bottom, right), (span_left, span_right) in zip(page.boxes,
                                                                 spans):
    assert abs(left - span_left) <= 3 and abs(right - span_right) <= 3
  assert page.digits.shape == (len(digits), 28, 28)
  assert page.probabilities.shape == (len(digits), 10)


def _sure(digits):
  """A network sure of every image: the reading keeps pieces joined
  wherever they may be one digit."""
  return np.eye(10, dtype=np.float32)[np.zeros(len(digits), int)]


@pytest.mark.parametrize('digits, gap, classify', [
    ('55', 0.3, _sure),             # each 5's cap is a piece of its own
    ('404', 0.3, _sure),            # a 0 broken in two halves
    ('00', -0.08, _narrow_only),    # touching: one piece, cut between
    ('777', -0.05, _narrow_only)])
def test_broken_and_touching_digits(reader, digits, gap, classify):
  ink, spans = _number(digits, 48, gap)
  if digits == '404':  # break the 0 at the top left and the bottom right
    left, right = spans[1]
    middle = int(round((left + right) / 2))
    ink[:int(0.3 * ink.shape[0]), middle - 6:middle - 3] = 0
    ink[int(0.7 * ink.shape[0]):, middle + 3:middle + 6] = 0
  page = reader.read(encode_image(_photo(ink, 'gradient'), 'png'), classify)
  assert len(page.digits) == len(digits), page.boxes
  for (top, left, bottom, right), (span_left, span_right) in zip(page.boxes,
                                                                 spans):
    assert left <= (span_left + span_right) / 2 <= right


def test_large_photo_is_scaled_down(reader):
  ink, _ = _number('21', 300, 0.3, margin=360)
  page = reader.read(encode_image(_photo(ink, 'gradient'), 'jpeg'), _narrow_only)
  assert min(page.ink.shape) == photo.LARGEST
  assert len(page.digits) == 2


# --- res_mnist_predict.py --------------------------------------------------


