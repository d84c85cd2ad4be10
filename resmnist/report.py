"""What a model gets wrong on the test set, and how sure it should be.

    before, after = report.readings(model.logits_of, images, temperature)
    numbers = report.compute(before, after, labels, class_names)
    print(report.table(numbers))
    report.write(numbers, images, 'report')   # report.json and three PNGs

`res_mnist_eval.py --report=DIR` writes it; `res_mnist_serve.py` shows it
on its page. `before` and `after` are the class probabilities of each test
image without and with the model's temperature (`calibration`); what was
read, and how sure, is `after`'s. In `report.json`: the accuracy, each
class's precision and recall, `confusion_matrix` (rows: the label,
columns: what was read), the ECE before and after, the reliability bins,
`misread` (the test indices of every misread image, the most confidently
wrong first) and `shown` (the first `MAX_SHOWN` of them, with their
probabilities). The PNGs need matplotlib (requirements-extra.txt).
"""
import io
import json
import os
import struct

import numpy as np

from resmnist import calibration
from resmnist import errors

REPORT_FILE = 'report.json'
# Misread images drawn in misread.png and listed with their probabilities.
MAX_SHOWN = 100


def readings(logits_of, images, temperature=None, *, tta=None,
             batch_size=2000):
  """The probabilities `[N, C]` of `images` `[N, 28, 28]` without and with
  `temperature`, from `logits_of` (`[n, 784]` -> logits); with `tta` (a
  function of such a classifier, e.g. `photo.test_time_augmented`), each
  averaged over the image's variants."""
  def both(digits):
    logits = logits_of(np.reshape(digits, (len(digits), -1)))
    return np.concatenate([calibration.softmax(logits),
                           calibration.softmax(logits, temperature or 1.0)],
                          axis=1)
  classify = tta(both) if tta else both
  pairs = np.concatenate([classify(images[start:start + batch_size])
                          for start in range(0, len(images), batch_size)])
  classes = pairs.shape[1] // 2
  return pairs[:, :classes], pairs[:, classes:]


def confusion_matrix(labels, read, classes):
  """`[classes, classes]` counts: row the label, column what was read."""
  matrix = np.zeros((classes, classes), np.int64)
  np.add.at(matrix, (np.asarray(labels), np.asarray(read)), 1)
  return matrix


def compute(before, after, labels, class_names, **about):
  """The report's numbers, as `report.json` holds them, of the test images'
  probabilities `before` and `after` calibration and their class ids
  `labels`; `about` (e.g. the checkpoint, the temperature) is kept as is."""
  labels = np.asarray(labels)
  read = after.argmax(axis=1)
  matrix = confusion_matrix(labels, read, len(class_names))
  right = np.diag(matrix)
  confidence = after.max(axis=1)
  wrong = np.nonzero(read != labels)[0]
  wrong = wrong[np.argsort(-confidence[wrong], kind='stable')]
  return dict(
      about, test_images=int(len(labels)),
      accuracy=float(right.sum() / max(len(labels), 1)),
      class_names=list(class_names),
      precision=(right / np.maximum(matrix.sum(axis=0), 1)).tolist(),
      recall=(right / np.maximum(matrix.sum(axis=1), 1)).tolist(),
      confusion_matrix=matrix.tolist(),
      ece_before=calibration.expected_calibration_error(before, labels),
      ece_after=calibration.expected_calibration_error(after, labels),
      reliability_before=calibration.reliability(before, labels),
      reliability_after=calibration.reliability(after, labels),
      misread=wrong.tolist(),
      shown=[{'index': int(i), 'label': int(labels[i]), 'read': int(read[i]),
              'probabilities': np.round(after[i], 4).tolist()}
             for i in wrong[:MAX_SHOWN]])


def table(numbers):
  """The report as text: each class's precision and recall, and the
  confusion matrix (rows: the label; columns: what was read)."""
  names = numbers['class_names']
  width = max(6, max(len(name) for name in names))
  lines = ['%-*s %9s %7s' % (width, 'class', 'precision', 'recall')]
  lines += ['%-*s %8.2f%% %6.2f%%' % (width, name, 100 * p, 100 * r)
            for name, p, r in zip(names, numbers['precision'],
                                  numbers['recall'])]
  cell = max(5, len(str(numbers['test_images'])) + 1)
  lines += ['', 'confusion matrix (rows: the label, columns: what was read)',
            ' ' * width + ''.join('%*s' % (cell, name[:cell - 1])
                                  for name in names)]
  lines += ['%-*s' % (width, name) + ''.join('%*d' % (cell, n) for n in row)
            for name, row in zip(names, numbers['confusion_matrix'])]
  return '\n'.join(lines)


def _pyplot():
  try:
    import matplotlib
  except ImportError:
    raise errors.Error('the report\'s pictures need matplotlib: pip install '
                       '-r requirements-extra.txt')
  matplotlib.use('Agg')  # files only, no window
  from matplotlib import pyplot
  return pyplot


def can_draw():
  """Whether matplotlib, which draws the pictures, is installed."""
  try:
    _pyplot()
    return True
  except errors.Error:
    return False


def _png(figure):
  pyplot = _pyplot()
  out = io.BytesIO()
  figure.savefig(out, format='png', dpi=100)
  pyplot.close(figure)
  return out.getvalue()


def confusion_png(matrix, class_names, title):
  """The confusion matrix as a PNG: counts in the cells, the diagonal's
  colour apart (rows: the label; columns: what was read)."""
  pyplot = _pyplot()
  matrix = np.asarray(matrix)
  figure, axes = pyplot.subplots(figsize=(7, 6))
  off = matrix * (1 - np.eye(len(matrix), dtype=matrix.dtype))
  axes.imshow(np.log1p(off), cmap='Reds')
  for (row, col), count in np.ndenumerate(matrix):
    if count:
      axes.text(col, row, str(count), ha='center', va='center', fontsize=8,
                color='tab:blue' if row == col else 'black')
  ticks = range(len(class_names))
  axes.set_xticks(ticks, class_names, rotation=45 if len(
      max(class_names, key=len)) > 2 else 0, ha='right', fontsize=8)
  axes.set_yticks(ticks, class_names, fontsize=8)
  axes.set_xlabel('read as')
  axes.set_ylabel('label')
  axes.set_title(title)
  figure.tight_layout()
  return _png(figure)


def png_size(png):
  """(height, width) of a PNG, from its header."""
  width, height = struct.unpack('>II', png[16:24])
  return height, width


def _misread_png(numbers, images):
  pyplot = _pyplot()
  shown, names = numbers['shown'], numbers['class_names']
  columns = 10
  rows = max(1, -(-len(shown) // columns))
  figure, grid = pyplot.subplots(rows, columns, squeeze=False,
                                 figsize=(columns * 1.1, rows * 1.35))
  for axes in grid.flat:
    axes.axis('off')
  for axes, item in zip(grid.flat, shown):
    axes.imshow(images[item['index']].reshape(28, 28), cmap='gray_r',
                vmin=0, vmax=1)
    axes.set_title('%s: %s\n%.0f%%' % (
        names[item['label']][:7], names[item['read']][:7],
        100 * max(item['probabilities'])), fontsize=7)
  figure.suptitle('misread: %d of %d (label: read as, how sure), the most '
                  'confident first' % (len(numbers['misread']),
                                       numbers['test_images']), fontsize=9)
  figure.tight_layout()
  return _png(figure)


def _reliability_png(numbers):
  pyplot = _pyplot()
  figure, axes = pyplot.subplots(figsize=(5, 5))
  axes.plot([0, 1], [0, 1], color='gray', linewidth=1, label='calibrated')
  for key, label in (('before', 'as trained'), ('after', 'with temperature')):
    bins = numbers['reliability_' + key]
    axes.plot([b[0] for b in bins], [b[1] for b in bins], marker='o',
              label='%s: ECE %.2f%%' % (label, 100 * numbers['ece_' + key]))
  axes.set_xlabel('confidence (top probability)')
  axes.set_ylabel('accuracy')
  axes.set_title('reliability on the %d test images'
                 % numbers['test_images'])
  axes.legend(loc='upper left', fontsize=8)
  figure.tight_layout()
  return _png(figure)


def write(numbers, images, directory):
  """Writes `report.json`, `confusion.png`, `misread.png` and
  `reliability.png` into `directory` (made if missing); `images` are the
  test images the numbers are of.

  Raises:
    errors.Error: matplotlib is missing, or the directory cannot be written.
  """
  pictures = {
      'confusion.png': confusion_png(
          numbers['confusion_matrix'], numbers['class_names'],
          'test accuracy %.2f%%' % (100 * numbers['accuracy'])),
      'misread.png': _misread_png(numbers, images),
      'reliability.png': _reliability_png(numbers)}
  try:
    os.makedirs(directory, exist_ok=True)
    for name, data in pictures.items():
      with open(os.path.join(directory, name), 'wb') as f:
        f.write(data)
    with open(os.path.join(directory, REPORT_FILE), 'w') as f:
      json.dump(numbers, f, indent=1)
      f.write('\n')
  except OSError as e:
    raise errors.Error('%s: cannot write the report (%s)'
                       % (directory, e.strerror or e))


def load(directory):
  """The numbers of `directory`'s `report.json`, or None if it has none.

  Raises:
    errors.Error: it is there but cannot be read.
  """
  path = os.path.join(directory, REPORT_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      numbers = json.load(f)
    missing = {'accuracy', 'class_names', 'confusion_matrix', 'shown'} - set(
        numbers)
    if missing:
      raise ValueError('no %s' % ', '.join(sorted(missing)))
  except (OSError, ValueError, TypeError) as e:
    raise errors.Error('%s: cannot read it (%s); delete it to have it made '
                       'again' % (path, e))
  return numbers
