"""The IDX reader on small files the tests write: splits, batches, errors."""
import gzip
import os

import hashlib
import numpy as np
import pathlib
import pytest

from conftest import (MNIST_DIR, idx_bytes, needs_mnist, synthetic_digits,
                      write_dataset)
from resmnist import input_data
from resmnist.input_data import DataError, read_data_sets


def test_splits_one_hot_and_pixels(small_data):
  data = read_data_sets(small_data, one_hot=True, validation_size=100,
                        sha256=None)
  assert data.train.num_examples == 500
  assert data.validation.num_examples == 100
  assert data.test.num_examples == 200
  assert data.train.images.shape == (500, 784)
  assert data.train.images.dtype == np.float32
  assert data.train.images.min() >= 0 and data.train.images.max() == 1.0
  assert data.train.labels.shape == (500, 10)
  np.testing.assert_array_equal(data.train.labels.sum(axis=1), 1)
  # The validation set is the first training images, in file order.
  images, labels = synthetic_digits(600, 0)
  np.testing.assert_array_equal(data.validation.images,
                                images[:100].reshape(100, 784) / np.float32(255))
  np.testing.assert_array_equal(data.validation.labels.argmax(1), labels[:100])


def test_dense_labels(small_data):
  data = read_data_sets(small_data, one_hot=False, validation_size=100,
                        sha256=None)
  assert data.test.labels.shape == (200,)
  np.testing.assert_array_equal(data.test.labels, synthetic_digits(200, 1)[1])


def test_next_batch_covers_each_example_once_per_epoch():
  images = np.arange(10, dtype=np.uint8)[:, None].repeat(784, 1)
  data_set = input_data.DataSet(images, np.arange(10, dtype=np.uint8), seed=3)
  seen = [data_set.next_batch(5)[1].argmax(1) for _ in range(2)]
  assert sorted(np.concatenate(seen)) == list(range(10))
  assert data_set.epochs_completed == 0
  data_set.next_batch(5)
  assert data_set.epochs_completed == 1
  # A batch that crosses the epoch end joins the old epoch's rest and the new
  # epoch's start, so over 3 epochs of batches of 4 each label shows 3 times.
  data_set = input_data.DataSet(images, np.arange(10, dtype=np.uint8), seed=4)
  labels = np.concatenate([data_set.next_batch(4)[1].argmax(1) for _ in range(15)])
  assert np.bincount(labels).tolist() == [6] * 10
  for epoch in range(6):
    assert sorted(labels[10 * epoch:10 * epoch + 10]) == list(range(10))


def test_next_batch_reshuffles_each_epoch():
  images = np.arange(100, dtype=np.uint8)[:, None].repeat(784, 1)
  data_set = input_data.DataSet(images, np.arange(100, dtype=np.uint8) % 10,
                                seed=0)
  orders = [tuple(data_set.next_batch(100)[0][:, 0]) for _ in range(3)]
  assert len(set(orders)) == 3
  assert all(sorted(order) == sorted(orders[0]) for order in orders)


def test_same_seed_same_order(small_data):
  batches = []
  for _ in range(2):
    data = read_data_sets(small_data, validation_size=100, seed=7, sha256=None)
    batches.append(np.concatenate([data.train.next_batch(64)[0] for _ in range(20)]))
  np.testing.assert_array_equal(batches[0], batches[1])


def test_sha256_checked(small_data):
  with open(os.path.join(small_data, 'train-labels-idx1-ubyte.gz'), 'rb') as f:
    content = gzip.decompress(f.read())
  good = {'train-labels-idx1-ubyte.gz': hashlib.sha256(content).hexdigest()}
  read_data_sets(small_data, validation_size=100, sha256=good)
  with pytest.raises(DataError, match=r'train-images-idx3-ubyte.gz: SHA-256 '
                     r'of the content is \w+\.\.\., expected ba891046e650'):
    read_data_sets(small_data, validation_size=100)


def _break(directory, name, content):
  path = os.path.join(directory, name)
  with open(path, 'wb') as f:
    f.write(content)
  return path


def _gz(data):
  return gzip.compress(data)


BAD_FILES = {
    'not gzip': ('train-images-idx3-ubyte.gz', b'<html>404 Not Found</html>',
                 'not a readable gzip file'),
    'empty': ('train-labels-idx1-ubyte.gz', b'', 'too short for an IDX header'),
    'truncated gzip': ('t10k-images-idx3-ubyte.gz',
                       _gz(idx_bytes(synthetic_digits(200, 1)[0]))[:3000],
                       'not a readable gzip file'),
    'bad magic': ('t10k-labels-idx1-ubyte.gz',
                  _gz(b'\x00\x00\x08\x04' + idx_bytes(np.zeros(200))[4:]),
                  'bad IDX magic number 2052'),
    'truncated content': ('train-images-idx3-ubyte.gz',
                          _gz(idx_bytes(synthetic_digits(600, 0)[0])[:-100]),
                          r'header says 600 records \(470416 bytes\) but the '
                          r'file has 470316 bytes'),
    'wrong image size': ('train-images-idx3-ubyte.gz',
                         _gz(b'\x00\x00\x08\x03' + (600).to_bytes(4, 'big')
                             + (32).to_bytes(4, 'big') * 2 + bytes(600 * 1024)),
                         'images are 32x32, expected 28x28'),
    'labels in images file': ('train-images-idx3-ubyte.gz',
                              _gz(idx_bytes(np.zeros(600))),
                              'holds labels, but its name says images'),
    'label out of range': ('train-labels-idx1-ubyte.gz',
                           _gz(idx_bytes(np.full(600, 10))),
                           'label 10 out of range 0..9'),
    'count mismatch': ('t10k-labels-idx1-ubyte.gz', _gz(idx_bytes(np.zeros(150))),
                       '200 images but 150 labels'),
}


@pytest.mark.parametrize('case', sorted(BAD_FILES))
def test_bad_file_gives_clear_error(small_data, case):
  name, content, message = BAD_FILES[case]
  _break(small_data, name, content)
  with pytest.raises(DataError, match=message) as info:
    read_data_sets(small_data, validation_size=100, sha256=None)
  text = str(info.value)
  assert '\n' not in text
  assert name in text
  assert 'put a good copy in %s/' % small_data in text or 'labels in' in text


def test_validation_size_too_large(small_data):
  with pytest.raises(DataError, match='validation size 600 must be between 0 '
                     'and 600'):
    read_data_sets(small_data, validation_size=600, sha256=None)


def test_data_dir_is_a_file(tmp_path):
  path = tmp_path / 'file'
  path.write_text('x')
  with pytest.raises(DataError, match='is a file, not a directory'):
    read_data_sets(str(path))


def _mirror(directory):
  return pathlib.Path(directory).as_uri() + '/'


def test_download_from_mirrors_in_turn(tmp_path):
  good = write_dataset(str(tmp_path / 'good'))
  bad = str(tmp_path / 'bad')
  os.makedirs(bad)
  _break(bad, 'train-labels-idx1-ubyte.gz', b'garbage')  # a mirror serving junk
  target = str(tmp_path / 'target')
  mirrors = ('file:///nonexistent/mirror/', _mirror(bad), _mirror(good))
  name = 'train-labels-idx1-ubyte.gz'
  path = input_data.maybe_download(name, target, None, mirrors)
  assert path == os.path.join(target, name)
  assert os.listdir(target) == [name]  # no partial file left behind
  with open(path, 'rb') as f, open(os.path.join(good, name), 'rb') as g:
    assert f.read() == g.read()


def test_download_failure_is_one_clear_line(tmp_path):
  target = str(tmp_path / 'target')
  with pytest.raises(DataError) as info:
    input_data.maybe_download('t10k-images-idx3-ubyte.gz', target, None,
                              ('file:///nonexistent/a/', 'file:///nonexistent/b/'))
  text = str(info.value)
  assert text.startswith('t10k-images-idx3-ubyte.gz is missing and could not '
                         'be downloaded (file:///nonexistent/a/: ')
  assert text.endswith('put a copy of it in %s/' % target)
  assert '\n' not in text
  assert os.listdir(target) == []


def test_download_rejects_wrong_checksum(tmp_path):
  good = write_dataset(str(tmp_path / 'good'))
  target = str(tmp_path / 'target')
  with pytest.raises(DataError, match='SHA-256'):
    input_data.maybe_download('train-labels-idx1-ubyte.gz', target,
                              input_data.MNIST_SHA256['train-labels-idx1-ubyte.gz'],
                              (_mirror(good),))
  assert os.listdir(target) == []


def test_default_mirrors_are_the_public_ones():
  assert input_data.MIRRORS[0] == 'https://storage.googleapis.com/cvdf-datasets/mnist/'
  assert all(m.endswith('/') for m in input_data.MIRRORS)


@needs_mnist
def test_real_mnist_as_tf1_gave_it():
  data = read_data_sets(MNIST_DIR, one_hot=True)
  assert (data.train.num_examples, data.validation.num_examples,
          data.test.num_examples) == (55000, 5000, 10000)
  # The published pixel mean of the 60,000 training images.
  all_train = np.concatenate([data.validation.images, data.train.images])
  assert abs(all_train.mean() - 0.130660) < 1e-5
  np.testing.assert_array_equal(data.test.labels[:5].argmax(1), [7, 2, 1, 0, 4])
  np.testing.assert_array_equal(data.validation.labels[:5].argmax(1), [5, 0, 4, 1, 9])


def test_skip_reproduces_the_batches_it_skips():
  images = np.arange(30, dtype=np.uint8)[:, None].repeat(784, 1)
  labels = np.arange(30, dtype=np.uint8) % 10
  straight = input_data.DataSet(images, labels, seed=5)
  batches = [straight.next_batch(7)[0][:, 0] for _ in range(20)]
  resumed = input_data.DataSet(images, labels, seed=5)
  resumed.skip(7 * 13)
  for batch in batches[13:]:
    np.testing.assert_array_equal(resumed.next_batch(7)[0][:, 0], batch)
  assert resumed.epochs_completed == straight.epochs_completed
