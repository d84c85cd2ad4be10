"""Reads MNIST (or Fashion-MNIST) from its four IDX files, as TF1's
`read_data_sets` did.

    from resmnist.input_data import read_data_sets
    mnist = read_data_sets('MNIST_data', one_hot=True)
    images, labels = mnist.train.next_batch(100)
    fashion = read_data_sets('Fashion_MNIST_data', sha256=FASHION_MNIST_SHA256,
                             mirrors=FASHION_MNIST_MIRRORS)   # or DATASETS[...]

`tensorflow.examples.tutorials.mnist` is gone from TensorFlow, so this is the
package's own reader with the same interface: train / validation / test
sets, images `[N, 784]` float32 in [0, 1], one-hot labels, the validation set
being the *first* `validation_size` training images.

A missing file is downloaded from the dataset's public mirrors, in turn,
into a temporary name that is renamed only once the file checks out. Every
file is checked (gzip stream, IDX magic number, counts, sizes, label range
and, for the standard files, the SHA-256 of the decompressed bytes, which is
the same whichever mirror or gzip level a copy came from). Anything wrong
raises `DataError` with a one-line message naming the file, what is wrong
and where a good copy goes.
"""
import collections
import gzip
import hashlib
import os
import struct
import urllib.request
import zlib

import numpy as np

from resmnist import errors

IMAGE_SIZE = 28
IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE
NUM_CLASSES = 10

TRAIN_IMAGES = 'train-images-idx3-ubyte.gz'
TRAIN_LABELS = 'train-labels-idx1-ubyte.gz'
TEST_IMAGES = 't10k-images-idx3-ubyte.gz'
TEST_LABELS = 't10k-labels-idx1-ubyte.gz'

# SHA-256 of the decompressed content of the published files.
MNIST_SHA256 = {
    TRAIN_IMAGES: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
    TRAIN_LABELS: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
    TEST_IMAGES: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
    TEST_LABELS: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
}

# TF1's reader used the first; torchvision tries the other two.
MIRRORS = (
    'https://storage.googleapis.com/cvdf-datasets/mnist/',
    'https://ossci-datasets.s3.amazonaws.com/mnist/',
    'http://yann.lecun.com/exdb/mnist/',
)

# Fashion-MNIST (Zalando Research): same format and file names.
FASHION_MNIST_SHA256 = {
    TRAIN_IMAGES: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
    TRAIN_LABELS: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
    TEST_IMAGES: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
    TEST_LABELS: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
}

# Keras' `fashion_mnist.load_data()` bucket, then the dataset's own.
FASHION_MNIST_MIRRORS = (
    'https://storage.googleapis.com/tensorflow/tf-keras-datasets/',
    'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
)

DatasetInfo = collections.namedtuple('DatasetInfo', 'name data_dir sha256 '
                                     'mirrors class_names mirror_invariant')

# What `--dataset` names: default directory, checksums, mirrors, classes, and
# whether a left-right mirrored image is still of its class (a shoe is, a
# 2 is not), which is what lets augmentation flip it.
DATASETS = {
    'mnist': DatasetInfo('mnist', 'MNIST_data', MNIST_SHA256, MIRRORS,
                         tuple(str(digit) for digit in range(10)), False),
    'fashion_mnist': DatasetInfo(
        'fashion_mnist', 'Fashion_MNIST_data', FASHION_MNIST_SHA256,
        FASHION_MNIST_MIRRORS,
        ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
         'Shirt', 'Sneaker', 'Bag', 'Ankle boot'), True),
}

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
DOWNLOAD_TIMEOUT_SECONDS = 60


class DataError(errors.Error):
  """A data file is missing, unreadable or not what it should be."""


def _read_idx(path, sha256=None):
  """Returns the array stored in one gzipped IDX file, after checking it."""
  name = os.path.basename(path)
  try:
    with gzip.open(path, 'rb') as f:
      data = f.read()
  except FileNotFoundError:
    raise DataError('%s: file not found' % path)
  except (OSError, EOFError, zlib.error) as e:
    raise DataError('%s: not a readable gzip file (%s)' % (path, e))
  if len(data) < 8:
    raise DataError('%s: too short for an IDX header (%d bytes)' % (path, len(data)))
  magic, count = struct.unpack('>II', data[:8])
  if magic == IMAGES_MAGIC:
    if len(data) < 16:
      raise DataError('%s: too short for an IDX image header' % path)
    rows, cols = struct.unpack('>II', data[8:16])
    if (rows, cols) != (IMAGE_SIZE, IMAGE_SIZE):
      raise DataError('%s: images are %dx%d, expected %dx%d'
                      % (path, rows, cols, IMAGE_SIZE, IMAGE_SIZE))
    header, shape = 16, (count, rows, cols)
  elif magic == LABELS_MAGIC:
    header, shape = 8, (count,)
  else:
    raise DataError('%s: bad IDX magic number %d (expected %d for images, %d '
                    'for labels)' % (path, magic, IMAGES_MAGIC, LABELS_MAGIC))
  expected_kind = IMAGES_MAGIC if 'images' in name else LABELS_MAGIC
  if 'images' in name or 'labels' in name:
    if magic != expected_kind:
      raise DataError('%s: holds %s, but its name says %s'
                      % (path, 'images' if magic == IMAGES_MAGIC else 'labels',
                         'images' if expected_kind == IMAGES_MAGIC else 'labels'))
  expected_bytes = header + int(np.prod(shape))
  if len(data) != expected_bytes:
    raise DataError('%s: header says %d records (%d bytes) but the file has %d '
                    'bytes' % (path, count, expected_bytes, len(data)))
  if sha256 is not None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
      raise DataError('%s: SHA-256 of the content is %s..., expected %s...'
                      % (path, digest[:12], sha256[:12]))
  array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
  if magic == LABELS_MAGIC and count and array.max() >= NUM_CLASSES:
    raise DataError('%s: label %d out of range 0..%d'
                    % (path, array.max(), NUM_CLASSES - 1))
  return array


def maybe_download(filename, work_directory, sha256=None, mirrors=MIRRORS):
  """Returns the path of `filename` in `work_directory`, downloading it if absent.

  The download goes to a temporary name, is checked, then renamed, so an
  interrupted or bad download never leaves a file that looks complete.
  """
  path = os.path.join(work_directory, filename)
  if os.path.exists(path):
    return path
  try:
    os.makedirs(work_directory, exist_ok=True)
  except OSError as e:
    raise DataError('%s: cannot create the data directory (%s)'
                    % (work_directory, e.strerror or e))
  errors = []
  for mirror in mirrors:
    tmp_path = path + '.part'
    try:
      with urllib.request.urlopen(mirror + filename,
                                  timeout=DOWNLOAD_TIMEOUT_SECONDS) as response, \
          open(tmp_path, 'wb') as out:
        while True:
          chunk = response.read(1 << 20)
          if not chunk:
            break
          out.write(chunk)
      _read_idx(tmp_path, sha256)
      os.replace(tmp_path, path)
      print('Downloaded %s from %s' % (filename, mirror))
      return path
    except (OSError, DataError) as e:  # URLError and timeouts are OSErrors.
      errors.append('%s: %s' % (mirror, getattr(e, 'reason', None) or e))
    finally:
      if os.path.exists(tmp_path):
        os.remove(tmp_path)
  raise DataError('%s is missing and could not be downloaded (%s); put a copy '
                  'of it in %s/' % (filename, '; '.join(errors), work_directory))


def dense_to_one_hot(labels_dense, num_classes=NUM_CLASSES):
  """Converts class labels from scalars to one-hot vectors."""
  return np.eye(num_classes, dtype=np.float32)[labels_dense]


class DataSet(object):
  """Images and labels with TF1's `next_batch`: shuffled each epoch."""

  def __init__(self, images, labels, one_hot=True, seed=None):
    """`images` uint8 `[N, 28, 28]` or `[N, 784]`; `labels` uint8 `[N]`."""
    if len(images) != len(labels):
      raise DataError('images.shape: %s labels.shape: %s'
                      % (images.shape, labels.shape))
    self._num_examples = len(images)
    self._images = (images.reshape(self._num_examples, IMAGE_PIXELS)
                    .astype(np.float32) / 255.0)
    self._labels = dense_to_one_hot(labels) if one_hot else labels.astype(np.int64)
    self._rng = np.random.RandomState(seed)
    self._order = np.arange(self._num_examples)
    self._epochs_completed = 0
    self._index_in_epoch = 0

  @property
  def images(self):
    return self._images

  @property
  def labels(self):
    return self._labels

  @property
  def num_examples(self):
    return self._num_examples

  @property
  def epochs_completed(self):
    return self._epochs_completed

  def _shuffle(self):
    # Composed with the previous order, as TF1 permuted the arrays in place.
    self._order = self._order[self._rng.permutation(self._num_examples)]

  def next_batch(self, batch_size):
    """Returns the next `batch_size` examples.

    Every example is seen once per epoch; the order is reshuffled at each
    epoch start, and a batch that crosses an epoch end takes the rest of the
    old epoch and the start of the new one, as TF1 did.
    """
    indices = self._next_indices(batch_size)
    return self._images[indices], self._labels[indices]

  def skip(self, count):
    """Moves on by `count` examples as `next_batch` would, without reading.

    With the same seed, a run resumed at step s after `skip(s * batch_size)`
    sees the batches that an uninterrupted run would have seen.
    """
    while count > 0:
      step = min(count, self._num_examples)
      self._next_indices(step)
      count -= step

  def _next_indices(self, batch_size):
    start = self._index_in_epoch
    if self._epochs_completed == 0 and start == 0:
      self._shuffle()
    if start + batch_size > self._num_examples:
      self._epochs_completed += 1
      rest = self._order[start:]
      self._shuffle()
      self._index_in_epoch = batch_size - len(rest)
      return np.concatenate((rest, self._order[:self._index_in_epoch]))
    self._index_in_epoch += batch_size
    return self._order[start:self._index_in_epoch]


class Datasets(object):
  """The three splits, as TF1's `base.Datasets` named them."""

  def __init__(self, train, validation, test):
    self.train = train
    self.validation = validation
    self.test = test


def read_data_sets(train_dir, one_hot=True, validation_size=5000, *, seed=None,
                   sha256=MNIST_SHA256, mirrors=MIRRORS):
  """Returns `Datasets` read from the four MNIST gz files in `train_dir`.

  Args:
    train_dir: directory of the gz files; missing files are downloaded there.
    one_hot: labels as one-hot float32 vectors, else as int64 class ids.
    validation_size: how many of the first training images to hold out.
    seed: seed for the training set's shuffling (None: unseeded).
    sha256: dict from file name to the expected SHA-256 of its decompressed
      content (`MNIST_SHA256`, `FASHION_MNIST_SHA256`); None checks
      structure only (e.g. for hand-made files).
    mirrors: where a missing file is downloaded from, tried in turn.

  Raises:
    DataError: with a one-line message, for any missing or bad file.
  """
  if os.path.exists(train_dir) and not os.path.isdir(train_dir):
    raise DataError('%s: the data directory is a file, not a directory'
                    % train_dir)
  arrays = {}
  for name in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS):
    expected = sha256.get(name) if sha256 else None
    path = maybe_download(name, train_dir, expected, mirrors)
    try:
      arrays[name] = _read_idx(path, expected)
    except DataError as e:
      raise DataError('%s; delete it to download it again, or put a good copy '
                      'in %s/' % (e, train_dir))
  for images, labels in ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS)):
    if len(arrays[images]) != len(arrays[labels]):
      raise DataError('%s/%s: %d images but %d labels in %s'
                      % (train_dir, images, len(arrays[images]),
                         len(arrays[labels]), labels))
  train_images, train_labels = arrays[TRAIN_IMAGES], arrays[TRAIN_LABELS]
  if not 0 <= validation_size < len(train_images):
    raise DataError('validation size %d must be between 0 and %d, the number '
                    'of training images in %s, less one'
                    % (validation_size, len(train_images), train_dir))
  return Datasets(
      train=DataSet(train_images[validation_size:],
                    train_labels[validation_size:], one_hot, seed),
      validation=DataSet(train_images[:validation_size],
                         train_labels[:validation_size], one_hot, seed),
      test=DataSet(arrays[TEST_IMAGES], arrays[TEST_LABELS], one_hot, seed))


def read_dataset(dataset, data_dir=None, check_sha256=True,
                 *, validation_size=5000, seed=None):
  """`read_data_sets` of `dataset` (a key of `DATASETS`), one-hot, from
  `data_dir` or the dataset's own default directory."""
  spec = DATASETS[dataset]
  return read_data_sets(data_dir or spec.data_dir, one_hot=True,
                        validation_size=validation_size, seed=seed,
                        sha256=spec.sha256 if check_sha256 else None,
                        mirrors=spec.mirrors)
