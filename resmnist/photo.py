"""Finds the digits in a photo of paper and makes each one an MNIST image.

    from resmnist import photo
    reader = photo.Reader()           # a small TensorFlow graph of its own
    page = reader.read(open('2026.jpg', 'rb').read(), classify)
    page.digits          # float32 [N, 28, 28], white on black, left to right
    page.probabilities   # [N, 10]: what `classify` made of each
    page.boxes           # (top, left, bottom, right) of each on page.ink
    page.ink             # the cleaned page, float32 [H, W], 0 paper, 1 ink

`classify` is the network: float32 `[N, 28, 28]` -> probabilities `[N, 10]`.
res_mnist_predict.py and bench/photo_digits.py read images with it. The
steps, each a function of numpy and scipy.ndimage (whose filters and
labelling do the pixel work) that the tests call directly:

1. `grey`: colour to grey, transparent pixels as white paper. (`Reader.read`
   then scales an image over 1000 pixels on its shorter side down to that.)
2. `remove_paper`: the paper is estimated by a morphological opening (a
   running minimum, then maximum, over a window three stroke widths wide,
   the strokes measured on a first cleaning with a window of half the
   image: what survives the opening is what is not ink) and taken away. On
   light paper the ink is then divided by the paper's light, so that a
   shadow or a lighting gradient leaves it as dark as elsewhere. Noise on
   the paper is smoothed and cut off at three standard deviations. On a
   clean page the paper is one grey, and this is the old preprocessing
   (the paper's grey taken away, the ink stretched) but for a few grey
   levels inside a stroke bolder than the window, or in JPEG's ringing.
3. `find_pieces`: connected ink (`components`); specks, stray marks and the
   faint ends of shadows at the image's edge dropped; pieces that overlap
   in x much joined (a 4's two strokes); a piece wider than a digit cut at
   its columns of least ink (touching digits). It says which runs of
   neighbouring pieces could be one digit (a 5 and its cap, the halves of a
   broken 0, the parts of a wide 2 that was cut).
4. `Reader.read`: each such run is made an MNIST digit (`mnist_digit`:
   cropped to its ink, scaled into 20x20 keeping its aspect ratio, centred
   by mass in 28x28) and read by the network; the split into digits that
   the network is surest of (the greatest product of top probabilities,
   a cut piece costing some) is kept.
"""
import collections
import io
import itertools
import warnings

import numpy as np
from PIL import Image
from scipy import ndimage
import tensorflow.compat.v1 as tf

from resmnist import errors
from resmnist.input_data import IMAGE_SIZE

LARGEST = 1000  # pixels on the shorter side: larger images are scaled down
MOST_PIXELS = 50e6  # a 50-megapixel camera's: more is refused undecoded
DIGIT_BOX = 20  # MNIST digits fit in 20x20, centred by mass in 28x28
STROKE_THRESHOLD = 0.2  # of the stretched ink: what counts as a stroke
MIN_CONTRAST = 0.1  # ink fainter than this against its paper: a blank page
STROKE_WINDOWS = 3  # the opening's window, in stroke widths
NOISE_SIGMAS = 3  # paper noise below this many standard deviations is paper
SPECK = 0.03  # pieces smaller than this share of the largest are specks
SHADOW_EDGE = 0.5  # of the darkest ink: the darkest of a shadow's edge
SAME_DIGIT_OVERLAP = 0.5  # of the narrower's width: pieces that are one digit
SHORT = 0.5  # of the tallest piece's height: a part of a digit, not one
NEAR = 0.25  # of the tallest's height: how far a part may be from its digit
SHORT_PART = 0.65  # of the tallest's height: a piece that may be a part
WIDE = 1.0  # width / height above which a piece may be touching digits
ONE_DIGIT = 1.2  # of the tallest piece's height: the widest digit
WIDEST = 2.0  # width / height of the widest MNIST digits
DIGIT_ASPECT = 0.8  # the median width / height of an MNIST digit
MOST_PIECES = 3  # in one digit (a cut piece counts as one)
# Costs of a reading, against the log probabilities of its digits:
LAST_RESORT = 100.0  # a digit that is not plausibly one (a lone 5's cap)
CUT = 2.0  # a piece cut in two: touching digits are rarer than wide ones
# Test-time augmentation: each digit is also read shifted by a pixel each
# way, turned, with thinner and bolder strokes, and the probabilities of
# all are averaged: a reader less thrown by one odd stroke.
SHIFTS = ((0, 1), (0, -1), (1, 0), (-1, 0))  # (rows, columns)
TURNS = (-10.0, 10.0)  # degrees
STROKE_CHANGE = 0.5  # of a 3x3 cross's erosion or dilation, blended in
BOX_COLOUR = (220, 0, 0)  # of boxes_image's boxes

Page = collections.namedtuple('Page', 'digits probabilities boxes ink')


class ImageError(errors.Error):
  """An image file cannot be read or holds no digit."""


def grey(image):
  """uint8 `[H, W, C]` (grey, grey+alpha, RGB or RGBA) -> float32 `[H, W]`."""
  image = image.astype(np.float32) / 255.0
  channels = image.shape[2]
  alpha = image[:, :, -1:] if channels in (2, 4) else 1.0
  colour = image[:, :, :3] if channels >= 3 else image[:, :, :1]
  if colour.shape[2] == 3:
    colour = colour @ np.array([[0.299], [0.587], [0.114]], np.float32)
  # Transparent pixels count as white paper.
  return (colour * alpha + (1.0 - alpha))[:, :, 0]


def _box_blur(image, size):
  """The mean over a centred `size` x `size` window (edges repeated),
  float32."""
  return ndimage.uniform_filter(image, size, output=np.float32, mode='nearest')


def _opening(image, window):
  """The morphological opening (running minimum, then maximum) of a
  slightly blurred image: what is narrower than `window` and brighter than
  around it is gone. The blur keeps a single pixel darker than the rest
  (noise, JPEG's ringing beside a stroke) from being taken for it.

  The image is first extended beyond its edges by continuing its slope
  (an odd reflection), as a shadow darkening towards the edge would go on:
  repeating the edge instead would flatten the paper there, and leave the
  last of the shadow as ink.
  """
  padded = np.pad(image, window, mode='reflect', reflect_type='odd').clip(
      image.min(), image.max())
  blurred = _box_blur(padded, max(1, window // 8))
  # Both over the same window: ndimage.grey_opening mirrors the maximum's,
  # which for an even window moves the paper by a pixel from the one that
  # bench/photo_digits.py's figures were measured with.
  opened = ndimage.maximum_filter(
      ndimage.minimum_filter(blurred, window, mode='nearest'), window,
      mode='nearest')
  return opened[window:-window, window:-window]


def _light_paper(grey_image):
  """Whether the paper is lighter than the ink.

  The paper is what the border shows: a guess of it, each pixel
  interpolated from the border straight across (which follows a lighting
  gradient), leaves the ink standing out on one side. Which side stands
  out more, beyond the noise, is the ink's.
  """
  height, width = grey_image.shape
  down = np.linspace(0.0, 1.0, height)[:, None]
  across = np.linspace(0.0, 1.0, width)[None, :]
  guess = (grey_image[:, :1] * (1 - across) + grey_image[:, -1:] * across
           + grey_image[:1] * (1 - down) + grey_image[-1:] * down) / 2
  rest = grey_image - guess
  noise = NOISE_SIGMAS * _noise(rest)
  return (np.maximum(-rest - noise, 0.0).sum()
          > np.maximum(rest - noise, 0.0).sum())


def _noise(image):
  """The standard deviation of the noise of a mostly flat image (from its
  median absolute deviation, which the few pixels that are not flat
  hardly move)."""
  return 1.4826 * np.median(np.abs(image - np.median(image)))


def _stroke_width(mask):
  """The mean width of the strokes of a boolean mask: twice its area over
  its perimeter (a stroke of width w and length l has area w*l and a
  perimeter of about 2*l)."""
  inner = mask.copy()
  inner[1:] &= mask[:-1]
  inner[:-1] &= mask[1:]
  inner[:, 1:] &= mask[:, :-1]
  inner[:, :-1] &= mask[:, 1:]
  return 2.0 * mask.sum() / max(1, (mask & ~inner).sum())


def remove_paper(grey_image, flat=False):
  """The ink of a page, paper taken away.

  Args:
    grey_image: float32 `[H, W]` in [0, 1].
    flat: take the paper as one grey, the median of the border, as the old
      preprocessing did (for Fashion-MNIST's clothes, which fill the image).

  Returns:
    float32 `[H, W]`: 0 on paper, else how much the ink differs from its
    paper (on light paper, as a share of the paper's light).
  """
  light = _light_paper(grey_image)
  bright_ink = 1.0 - grey_image if light else grey_image  # MNIST's way round
  if flat:
    border = np.concatenate([bright_ink[0], bright_ink[-1], bright_ink[:, 0],
                             bright_ink[:, -1]])
    return np.maximum(bright_ink - np.median(border), 0.0)
  # The opening's window is a few stroke widths, so that the paper follows
  # a shadow's edge closely; the strokes are measured on a first cleaning
  # with a window of half the image, which no stroke fills.
  largest = max(3, min(grey_image.shape) // 2)
  paper = _opening(bright_ink, largest)
  first = _box_blur((bright_ink - paper) / (
      np.maximum(1.0 - paper, 1e-3) if light else 1.0), 3)  # noise: no specks
  stroke = _stroke_width(first > 0.5 * first.max())
  paper = _opening(bright_ink, int(np.clip(round(STROKE_WINDOWS * stroke),
                                           3, largest)))
  ink = bright_ink - paper
  if _noise(ink) > 0:
    # Noise on the paper: smoothed over half a stroke's width it cannot
    # break a stroke or make specks.
    ink = _box_blur(ink, max(1, int(round(stroke / 2))))
  # Most pixels are paper: the noise left on them is cut off. On light
  # paper, the ink is then measured against the light the paper gets.
  ink = np.maximum(ink - (np.median(ink) + NOISE_SIGMAS * _noise(ink)), 0.0)
  return ink / np.maximum(1.0 - paper, 1e-3) if light else ink


def components(mask):
  """The 8-connected components of a boolean `[H, W]` mask.

  Returns:
    labels: int32 `[H, W]`, 0 off the mask, k on the k-th component (1...),
      in the order of their last pixels (row by row, left to right).
    boxes: int `[K + 1, 4]`, (top, left, bottom, right) of each, ends
      exclusive; row 0 is unused.
  """
  # ndimage numbers components by their first pixels; numbering them upside
  # down puts them in the order of their last. Where `find_pieces` could
  # join a piece to either of two others, the order decides, and this is
  # the one its readings (bench/photo_digits.py) were measured with.
  upside_down, count = ndimage.label(mask[::-1, ::-1], np.ones((3, 3), int))
  renumbered = np.concatenate([[0], np.arange(count, 0, -1)]).astype(np.int32)
  labels = renumbered[upside_down[::-1, ::-1]]
  boxes = np.zeros((count + 1, 4), np.int64)
  for k, (rows, cols) in enumerate(ndimage.find_objects(labels), 1):
    boxes[k] = rows.start, cols.start, rows.stop, cols.stop
  return labels, boxes


def _cut_columns(ink, left, right, parts):
  """Where to cut columns [left, right) of `ink` into `parts`: near equal
  widths, at the column with the least ink."""
  columns = ink[:, left:right].sum(axis=0)
  width = right - left
  cuts = []
  for i in range(1, parts):
    expected = round(width * i / parts)
    reach = max(1, width // (3 * parts))
    lo, hi = max(1, expected - reach), min(width - 1, expected + reach)
    # The least ink; of equals, the one nearest the expected place.
    candidates = np.arange(lo, hi + 1)
    cuts.append(left + candidates[np.lexsort(
        (np.abs(candidates - expected), columns[lo:hi + 1]))[0]])
  return [left] + cuts + [right]


def _span(boxes, piece):
  """The box (top, left, bottom, right) of the components `piece`."""
  return (boxes[piece, 0].min(), boxes[piece, 1].min(),
          boxes[piece, 2].max(), boxes[piece, 3].max())


def _height(boxes, piece):
  top, _, bottom, _ = _span(boxes, piece)
  return bottom - top


def _width(boxes, piece):
  _, left, _, right = _span(boxes, piece)
  return right - left


def _gap(boxes, a, b):
  """Between two pieces in x; negative if they overlap."""
  _, left_a, _, right_a = _span(boxes, a)
  _, left_b, _, right_b = _span(boxes, b)
  return max(left_b - right_a, left_a - right_b)


def _inked_pieces(ink, labels, boxes):
  """The components that may be digits' strokes, each a piece `[label]`."""
  areas = np.bincount(labels.ravel(), minlength=len(boxes))
  areas[0] = 0
  darkest = np.zeros(len(boxes))
  darkest[1:] = ndimage.maximum(ink, labels, np.arange(1, len(boxes)))
  # Not specks, and not the edge of a shadow where it meets the image's
  # edge: that is never as dark as ink.
  edge = ((boxes[:, 0] == 0) | (boxes[:, 1] == 0) |
          (boxes[:, 2] == ink.shape[0]) | (boxes[:, 3] == ink.shape[1]))
  return [[i] for i in np.nonzero((areas >= SPECK * areas.max()) & ~(
      edge & (darkest < SHADOW_EDGE)))[0]]


def _join_overlapping(boxes, pieces):
  """`pieces`, those that overlap in x much joined (in place): a stroke
  broken by the pen, or drawn apart (a 4's two strokes), is one digit."""
  joined = True
  while joined:
    joined = False
    for a, b in itertools.combinations(range(len(pieces)), 2):
      if -_gap(boxes, pieces[a], pieces[b]) >= SAME_DIGIT_OVERLAP * min(
          _width(boxes, pieces[a]), _width(boxes, pieces[b])):
        pieces[a] += pieces.pop(b)
        joined = True
        break
  return pieces


def _piece_cuts(own, left, right, tallest):
  """Where to cut a piece, its ink `own` in columns [left, right) of its
  rows: [left, right] if it is no wider than a digit."""
  height = own.shape[0]
  if (right - left <= WIDE * height
      or height < SHORT_PART * tallest):  # a 5's long cap
    return [left, right]
  # Maybe touching digits: cut where the ink is least into as many digits
  # as fit, and into one more (`Reader.read` keeps the cuts that read best).
  reference = max(tallest, height)
  fit = max(2, int((right - left) / (DIGIT_ASPECT * reference)))
  cuts = [left]
  for cut in sorted(set(_cut_columns(own, left, right, fit)[1:-1]
                        + _cut_columns(own, left, right, fit + 1)[1:-1])):
    if min(cut - cuts[-1], right - cut) >= NEAR * reference:
      cuts.append(cut)
  return cuts + [right]


def _parts(ink, labels, boxes, *, pieces, tallest):
  """The parts of `pieces`, left to right: each piece, or the parts a piece
  wider than a digit is cut into.

  Returns:
    found: (box, label ids) of each part, its box around its own ink.
    first: for each part, the index in `found` of its piece's first part.
  """
  found, first = [], []
  for piece in sorted(pieces, key=lambda p: _span(boxes, p)[1]):
    top, left, bottom, right = _span(boxes, piece)
    own = np.isin(labels[top:bottom], piece) * ink[top:bottom]
    cuts = _piece_cuts(own, left, right, tallest)
    start_of_piece = len(found)
    for start, end in zip(cuts[:-1], cuts[1:]):
      rows = np.nonzero((own[:, start:end] > STROKE_THRESHOLD).any(axis=1))[0]
      if len(rows):
        found.append(((top + rows[0], start, top + rows[-1] + 1, end), piece))
        first.append(start_of_piece)
  return found, first


def _joinable(found, first, tallest):
  """Whether each part and the next may be parts of one digit: the parts of
  a cut piece; pieces that overlap in x (the halves of a broken 0); a short
  piece and one near it (a 5 and its cap)."""
  joinable = []
  for (a, _), (b, _), first_a, first_b in zip(found, found[1:], first,
                                              first[1:]):
    joinable.append(first_a == first_b or b[1] < a[3] or (
        min(a[2] - a[0], b[2] - b[0]) < SHORT_PART * tallest
        and b[1] - a[3] <= NEAR * tallest))
  return joinable


def _runs(found, first, tallest, lone):
  """Which runs of neighbouring parts may be one digit: joinable parts, of
  up to `MOST_PIECES` pieces, no wider than a digit (MNIST's digits are no
  wider than their box, and the tallest digits are as tall as the box; a
  `lone` piece, no wider than the widest digits for its height), and not
  just a short part of one. A part left in no such run is read alone, as a
  last resort. Each run has a cost, against the log probability of the
  network's reading: (start, end, cost) of each run `found[start:end]`."""
  joinable = _joinable(found, first, tallest)
  runs = []
  for end in range(1, len(found) + 1):
    for start in range(end - 1, -1, -1):
      if (len(set(first[start:end])) > MOST_PIECES or
          start < end - 1 and not joinable[start]):
        break
      run = [box for box, _ in found[start:end]]
      run_width = max(b[3] for b in run) - run[0][1]
      run_height = max(b[2] for b in run) - min(b[0] for b in run)
      plausible = run_width <= (
          WIDEST * run_height if lone
          else ONE_DIGIT * max(tallest, run_height)
      ) and run_height >= SHORT * tallest
      if plausible or end - start == 1:
        cost = 0.0 if plausible else LAST_RESORT
        if (end < len(found) and first[end] == first[end - 1]
            and start <= first[end - 1]):
          cost += CUT  # the first of a cut piece: touching digits are rarer
        runs.append((start, end, cost))
  return runs


def find_pieces(ink, split=True):
  """The pieces of ink that digits are made of, left to right.

  Args:
    ink: the page's ink (`[H, W]`), stretched so that its darkest is 1.
    split: look for several digits; else all the ink is one piece.

  Returns:
    labels: the `components` of the strokes, `[H, W]`.
    pieces: list of (box, label ids): (top, left, bottom, right), ends
      exclusive, and the components whose pixels in the box are the piece's.
      Empty if there is no ink.
    runs: (start, end, cost) of each run of `pieces[start:end]` that may be
      one digit (every plausible one, and each piece alone), with the cost
      of reading it so, to add to its -log probability.
  """
  labels, boxes = components(ink > STROKE_THRESHOLD)
  if len(boxes) == 1:
    return labels, [], []
  if not split:
    everything = list(range(1, len(boxes)))
    return labels, [(_span(boxes, everything), everything)], [(0, 1, 0.0)]
  pieces = _join_overlapping(boxes, _inked_pieces(ink, labels, boxes))
  if not pieces:
    return labels, [], []
  # A short piece far from the others is a stray mark, not a digit's part.
  tallest = max(_height(boxes, p) for p in pieces)
  pieces = [p for p in pieces if _height(boxes, p) >= SHORT * tallest or any(
      _gap(boxes, p, q) <= NEAR * tallest for q in pieces if q is not p)]
  found, first = _parts(ink, labels, boxes, pieces=pieces, tallest=tallest)
  return labels, found, _runs(found, first, tallest, lone=len(pieces) == 1)


def _check_size(contents):
  """ImageError if the header of an image file gives it more than
  MOST_PIXELS (decoded, it could fill the memory); Pillow reads only the
  header. A file Pillow cannot read is left to TensorFlow's decoder, whose
  formats are the ones read."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore', Image.DecompressionBombWarning)
      width, height = Image.open(io.BytesIO(contents)).size
      size = '%d x %d pixels' % (width, height)
  except Image.DecompressionBombError:  # Pillow's own limit, far above ours
    width = height = float('inf')
    size = 'over %d megapixels' % (2 * Image.MAX_IMAGE_PIXELS / 1e6)
  except Exception:  # pylint: disable=broad-except
    return
  if width * height > MOST_PIXELS:
    raise ImageError('the image is too large (%s; at most %d megapixels are '
                     'read)' % (size, MOST_PIXELS / 1e6))


def test_time_augmented(classify):
  """`classify` (`[N, 28, 28]` -> `[N, C]`) averaged over each digit's
  variants: as it is, shifted (SHIFTS), turned (TURNS), with thinner and
  bolder strokes. Costs 1 + 4 + 2 + 2 = 9 readings of each digit, in one
  batch."""
  def averaged(digits):
    digits = np.asarray(digits, np.float32)
    cross = ndimage.generate_binary_structure(3, 1)
    cross[0] = cross[2] = False  # each digit on its own
    variants = [digits]
    variants += [ndimage.shift(digits, (0,) + shift, order=0, mode='constant')
                 for shift in SHIFTS]
    variants += [ndimage.rotate(digits, angle, axes=(2, 1), reshape=False,
                                order=1, mode='constant').clip(0.0, 1.0)
                 for angle in TURNS]
    for change in (ndimage.grey_erosion, ndimage.grey_dilation):
      variants.append((1 - STROKE_CHANGE) * digits + STROKE_CHANGE * change(
          digits, footprint=cross))
    probabilities = classify(np.concatenate(variants))
    return probabilities.reshape(len(variants), len(digits), -1).mean(axis=0)
  return averaged


def boxes_image(page):
  """A `Page`'s cleaned page, dark ink on white, with its digits' boxes:
  uint8 RGB."""
  pixels = np.repeat(np.round((1.0 - page.ink) * 255).astype(np.uint8)[
      :, :, None], 3, axis=2)
  height, width = page.ink.shape
  line = max(1, min(height, width) // 150)
  for top, left, bottom, right in page.boxes:  # drawn around the digit
    top, left = max(top - line, 0), max(left - line, 0)
    bottom, right = min(bottom + line, height), min(right + line, width)
    pixels[top:top + line, left:right] = BOX_COLOUR
    pixels[bottom - line:bottom, left:right] = BOX_COLOUR
    pixels[top:bottom, left:left + line] = BOX_COLOUR
    pixels[top:bottom, right - line:right] = BOX_COLOUR
  return pixels


class Reader(object):
  """Decodes image files with TensorFlow and finds their MNIST-like digits."""

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
      self._pixels = tf.placeholder(tf.uint8, [None, None, None])
      self._png = tf.io.encode_png(self._pixels)
    self._sess = tf.Session(graph=self._graph)

  def decode(self, contents):
    """The pixels of an image file's bytes: uint8 `[H, W, C]`."""
    if not contents:
      raise ImageError('empty file')
    _check_size(contents)
    try:
      return self._sess.run(self._decoded, {self._contents: contents})
    except tf.errors.InvalidArgumentError as e:
      if 'Unknown image file format' in e.message:
        raise ImageError('not an image (PNG, JPEG, BMP or GIF expected)')
      raise ImageError('cannot decode the image (%s)'
                       % e.message.strip().splitlines()[0])

  def _resize(self, image, size):
    return self._sess.run(self._resized, {self._crop: image[:, :, None],
                                          self._size: size})[:, :, 0]

  def mnist_digit(self, crop):
    """A digit's ink (`[h, w]`, [0, 1]) as MNIST made its digits: `[28, 28]`."""
    crop = crop / crop.max()
    rows = np.nonzero((crop > STROKE_THRESHOLD).any(axis=1))[0]
    cols = np.nonzero((crop > STROKE_THRESHOLD).any(axis=0))[0]
    crop = crop[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = DIGIT_BOX / max(crop.shape)
    size = [max(1, int(round(crop.shape[0] * scale))),
            max(1, int(round(crop.shape[1] * scale)))]
    digit = np.clip(self._resize(crop, size), 0.0, 1.0)
    canvas = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    mass = digit.sum()
    centre_row = (digit.sum(axis=1) @ np.arange(size[0])) / mass
    centre_col = (digit.sum(axis=0) @ np.arange(size[1])) / mass
    middle = IMAGE_SIZE / 2.0  # where MNIST has its digits' centre of mass
    top = int(np.clip(round(middle - centre_row), 0, IMAGE_SIZE - size[0]))
    left = int(np.clip(round(middle - centre_col), 0, IMAGE_SIZE - size[1]))
    canvas[top:top + size[0], left:left + size[1]] = digit
    return canvas

  def read(self, contents, classify, numbers=True):
    """The `Page` of an image file's bytes.

    Args:
      contents: the bytes of a PNG, JPEG, BMP or GIF file.
      classify: float32 `[N, 28, 28]` images -> probabilities `[N, C]`.
      numbers: find each digit of a number, on paper that may be uneven;
        else the image holds one thing on an even background (Fashion-MNIST).

    Raises:
      ImageError: the bytes are not an image, or it shows no ink.
    """
    page = grey(self.decode(contents))
    if min(page.shape) > LARGEST:  # a camera's: more pixels than it needs
      size = np.round(np.array(page.shape) * LARGEST / min(page.shape))
      page = self._resize(page, size.astype(int))
    ink = remove_paper(page, flat=not numbers)
    contrast = ink.max()
    if contrast < MIN_CONTRAST:
      raise ImageError('no digit found (the image is blank)')
    ink /= contrast
    labels, pieces, runs = find_pieces(ink, split=numbers)
    if not pieces:
      raise ImageError('no digit found (the image is blank)')
    boxes, digits = [], []
    for start, end, _ in runs:
      run = pieces[start:end]
      top, left = min(p[0][0] for p in run), min(p[0][1] for p in run)
      bottom, right = max(p[0][2] for p in run), max(p[0][3] for p in run)
      # The run's own strokes, and the faint edges around them; not a
      # neighbour's strokes reaching into its box, nor specks.
      box_labels = labels[top:bottom, left:right]
      crop = np.where((box_labels == 0) | np.isin(box_labels, sum(
          (p[1] for p in run), [])), ink[top:bottom, left:right], 0.0)
      boxes.append((top, left, bottom, right))
      digits.append(self.mnist_digit(crop))
    digits = np.array(digits, np.float32)
    probabilities = classify(digits)
    # best[end]: the surest way to read the first `end` pieces, as the sum
    # of the log top probabilities of its digits less their runs' costs, and
    # those digits (runs).
    best = [(0.0, [])] + [(-np.inf, [])] * len(pieces)
    for i, (start, end, cost) in enumerate(runs):
      score = (best[start][0] - cost
               + np.log(max(probabilities[i].max(), 1e-30)))
      if score > best[end][0]:
        best[end] = (score, best[start][1] + [i])
    chosen = best[-1][1]
    return Page(digits[chosen], probabilities[chosen],
                [boxes[i] for i in chosen], ink)

  def png(self, pixels):
    """The bytes of a PNG of uint8 `[H, W, C]` pixels (C is 1 or 3)."""
    return self._sess.run(self._png, {self._pixels: pixels})

  def close(self):
    self._sess.close()
