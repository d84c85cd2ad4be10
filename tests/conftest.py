"""Shared test helpers: the project on sys.path, small IDX files, the CLI."""
import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from resmnist import slim  # noqa: E402,F401  (readies TensorFlow first)
import tensorflow.compat.v1 as tf  # noqa: E402

tf.disable_v2_behavior()

from resmnist import input_data  # noqa: E402

MNIST_DIR = os.path.join(ROOT, 'MNIST_data')
MNIST_FILES = (input_data.TRAIN_IMAGES, input_data.TRAIN_LABELS,
               input_data.TEST_IMAGES, input_data.TEST_LABELS)
HAVE_MNIST = all(os.path.exists(os.path.join(MNIST_DIR, f)) for f in MNIST_FILES)
NO_MNIST = 'real MNIST is not in MNIST_data/ (.ci/run copies it there)'
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason=NO_MNIST)

# A small run on `small_data`: 500 training images, 100 for validation.
SMALL = ['--nocheck_sha256', '--validation_size=100', '--batch_size=50',
         '--seed=1']
# ... logging and saving every 20 steps, for runs that stop and resume.
SMALL_RUN = SMALL + ['--log_every=20', '--save_every=20']


def idx_bytes(array):
  """The IDX encoding of a uint8 array of images [N, 28, 28] or labels [N]."""
  array = np.asarray(array, dtype=np.uint8)
  if array.ndim == 3:
    header = struct.pack('>IIII', input_data.IMAGES_MAGIC, *array.shape)
  else:
    header = struct.pack('>II', input_data.LABELS_MAGIC, len(array))
  return header + array.tobytes()


def write_gz(path, data):
  with gzip.open(path, 'wb') as f:
    f.write(data)


def synthetic_digits(n, seed):
  """Learnable fake digits: label k lights a 7x7 square in cell k, plus noise."""
  rng = np.random.RandomState(seed)
  labels = rng.randint(0, 10, size=n).astype(np.uint8)
  images = rng.randint(0, 60, size=(n, 28, 28)).astype(np.uint8)
  for i, label in enumerate(labels):
    row, col = divmod(int(label), 4)
    images[i, 7 * row:7 * row + 7, 7 * col:7 * col + 7] = 255
  return images, labels


def write_dataset(directory, n_train=600, n_test=200, seed=0):
  """Writes the four gz files of a small synthetic MNIST into `directory`."""
  os.makedirs(directory, exist_ok=True)
  for prefix, n, s in (('train', n_train, seed), ('t10k', n_test, seed + 1)):
    images, labels = synthetic_digits(n, s)
    write_gz(os.path.join(directory, '%s-images-idx3-ubyte.gz' % prefix),
             idx_bytes(images))
    write_gz(os.path.join(directory, '%s-labels-idx1-ubyte.gz' % prefix),
             idx_bytes(labels))
  return directory


@pytest.fixture
def small_data(tmp_path):
  return str(write_dataset(str(tmp_path / 'data')))


def run_script(script, *args, cwd=None, timeout=600):
  """Runs one of the project's scripts; returns the CompletedProcess."""
  return subprocess.run([sys.executable, os.path.join(ROOT, script)] + list(args),
                        cwd=cwd or ROOT, capture_output=True, text=True,
                        timeout=timeout)


def one_line_error(result, script='res_mnist.py', status=1):
  """The one line a script printed on stderr when it failed with `status`."""
  assert result.returncode == status, (result.returncode, result.stderr)
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith(script + ': error: '), lines[0]
  return lines[0]


@pytest.fixture(scope='session')
def small_model(tmp_path_factory):
  """A model dir of 20 training steps on synthetic digits, for the scripts
  that read one (predict, export): trained once for the whole run. Tests
  that damage a model work on a copy."""
  data_dir = write_dataset(str(tmp_path_factory.mktemp('data')))
  model_dir = str(tmp_path_factory.mktemp('model'))
  result = run_script('res_mnist.py', '--data_dir=' + data_dir,
                      '--model_dir=' + model_dir, '--max_steps=20',
                      '--nocheck_sha256', '--validation_size=100', '--seed=1')
  assert result.returncode == 0, result.stderr
  return model_dir


@pytest.fixture(scope='session')
def real_run(tmp_path_factory):
  """300 steps of the default recipe on real MNIST, trained once for the
  tests that need a real model: (model_dir, the run's stdout)."""
  if not HAVE_MNIST:
    pytest.skip(NO_MNIST)
  model_dir = str(tmp_path_factory.mktemp('real_model'))
  result = run_script('res_mnist.py', '--data_dir=' + MNIST_DIR,
                      '--model_dir=' + model_dir, '--max_steps=300', '--seed=1',
                      '--log_every=10')
  assert result.returncode == 0, result.stderr
  return model_dir, result.stdout
