"""Shared test helpers: the project on sys.path, small IDX files, the
scripts run to the end (`run_script`) or in the background (`Process`),
forked from a process that has imported TensorFlow (`forked_scripts`)."""
import atexit
import gzip
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from resmnist import cli  # noqa: E402

cli.start()  # as the scripts start: TensorFlow's log quiet, oneDNN on

from resmnist import slim  # noqa: E402,F401
import tensorflow.compat.v1 as tf  # noqa: E402

tf.disable_v2_behavior()

from resmnist import input_data  # noqa: E402
import forked_scripts  # noqa: E402

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


def run_script(script, *args, cwd=None, timeout=600, fresh=False, env=None):
  """Runs one of the project's scripts to its end: a CompletedProcess.
  Forked from a process that has imported TensorFlow, unless `fresh`."""
  process = Process(script, *args, cwd=cwd, fresh=fresh, env=env)
  try:
    returncode = process.wait(time.time() + timeout)
  except subprocess.TimeoutExpired:
    process.popen.kill()
    process.wait()
    raise
  done = subprocess.CompletedProcess([script] + list(args), returncode,
                                     process.output, process.errors)
  shutil.rmtree(process.directory)
  return done


# The scripts' output files, removed when the test run ends.
_OUTPUTS = tempfile.mkdtemp(prefix='script-outputs-')
atexit.register(shutil.rmtree, _OUTPUTS, True)


class _Forked(object):
  """A child of `forked_scripts`, with the Popen methods the tests use."""

  def __init__(self, child):
    self._child = child
    self.pid = child.pid

  def poll(self):
    return self._child.exitcode

  def wait(self, timeout=None):
    self._child.join(timeout)
    if self._child.exitcode is None:
      raise subprocess.TimeoutExpired(str(self.pid), timeout)
    return self._child.exitcode

  def send_signal(self, signum):
    if self._child.exitcode is None:
      os.kill(self.pid, signum)

  def kill(self):
    self.send_signal(signal.SIGKILL)


class Process(object):
  """A script run in the background, its output read as it comes:
  forked from a process that has imported TensorFlow (`forked_scripts`),
  or a new Python when `fresh`.

  `merge` puts stderr into `output`; else it is `errors`. `wait_for`
  waits for a line, e.g. a training step: `wait_for(r'^training step 5,')`.
  """

  def __init__(self, script, *args, merge=False, cwd=None, fresh=False,
               env=None):
    self.directory = tempfile.mkdtemp(dir=_OUTPUTS)  # its output
    self._output = os.path.join(self.directory, 'stdout')
    self._errors = self._output if merge else os.path.join(self.directory,
                                                           'stderr')
    self._merge = merge
    path = os.path.join(ROOT, script)
    if fresh:
      with open(self._output, 'ab') as out, open(self._errors, 'ab') as err:
        self.popen = subprocess.Popen(
            [sys.executable, '-u', path] + list(args), cwd=cwd or ROOT,
            env=env, stdout=out, stderr=err)
    else:
      self.popen = _Forked(forked_scripts.start(
          path, args, cwd or ROOT, dict(env or os.environ), self._output,
          self._errors))

  @staticmethod
  def _read(path):
    try:
      with open(path) as f:
        return f.read()
    except FileNotFoundError:
      return ''

  @property
  def output(self):
    return self._read(self._output)

  @property
  def errors(self):
    return '' if self._merge else self._read(self._errors)

  def wait_for(self, pattern, deadline=None, count=1):
    """The `count`-th match of `pattern` in the output, waiting for it until
    `deadline` (default: 5 minutes from now)."""
    deadline = deadline or time.time() + 300
    size = -1
    while True:
      ended = self.popen.poll() is not None
      # Read again only what has grown: the test's polling leaves the cores
      # to the script.
      grown = os.path.exists(self._output) and os.path.getsize(
          self._output) != size
      if ended or grown:
        size = os.path.getsize(self._output) if grown else size
        matches = list(re.finditer(pattern, self.output, re.M))
        if len(matches) >= count:
          return matches[count - 1]
      if ended or time.time() > deadline:
        break
      time.sleep(0.002)
    raise AssertionError('no %r in:\n%s%s' % (pattern, self.output,
                                              self.errors))

  def wait(self, deadline=None):
    deadline = deadline or time.time() + 300
    return self.popen.wait(max(deadline - time.time(), 1))


def encode_image(image, kind):
  """uint8 [H, W, 3] -> bytes of a PNG, JPEG or (24-bit) BMP file."""
  if kind == 'bmp':
    height, width, _ = image.shape
    row = (width * 3 + 3) // 4 * 4
    pixels = b''.join(image[y, :, ::-1].tobytes().ljust(row, b'\0')
                      for y in range(height - 1, -1, -1))
    return (b'BM' + struct.pack('<IHHI', 54 + len(pixels), 0, 0, 54)
            + struct.pack('<IiiHHIIiiII', 40, width, height, 1, 24, 0,
                          len(pixels), 2835, 2835, 0, 0) + pixels)
  with tf.Graph().as_default(), tf.Session() as sess:
    encode = tf.io.encode_png if kind == 'png' else tf.io.encode_jpeg
    return sess.run(encode(tf.constant(image)))


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
  """300 steps of LeNet-5 on real MNIST (about 97% test accuracy), trained
  once for the tests that read a real model (predict, serve, the page, the
  report): (model_dir, the run's stdout). LeNet-5, not the post's ResNet:
  these tests need a model that reads digits, and it trains ten times
  faster; the ResNet's training is tested on synthetic digits."""
  if not HAVE_MNIST:
    pytest.skip(NO_MNIST)
  model_dir = str(tmp_path_factory.mktemp('real_model'))
  result = run_script('res_mnist.py', '--net=lenet5', '--data_dir=' + MNIST_DIR,
                      '--model_dir=' + model_dir, '--max_steps=300', '--seed=1',
                      '--log_every=10')
  assert result.returncode == 0, result.stderr
  return model_dir, result.stdout


def small_datasets(n_train=600, n_test=200, validation_size=100, seed=0):
  """`input_data.Datasets` of synthetic digits, as `write_dataset` writes
  them, held in memory."""
  images, labels = synthetic_digits(n_train, seed)
  test_images, test_labels = synthetic_digits(n_test, seed + 1)
  return input_data.Datasets(
      train=input_data.DataSet(images[validation_size:],
                               labels[validation_size:], seed=seed),
      validation=input_data.DataSet(images[:validation_size],
                                    labels[:validation_size], seed=seed),
      test=input_data.DataSet(test_images, test_labels, seed=seed))


def train_here(recipe, model_dir, *hooks, data=None, evaluate=False,
               **settings):
  """`res_mnist.train` of `recipe` in this process, into `model_dir`, on
  `data` (default `small_datasets()`), with `hooks` after the loop's own;
  `settings` are LoopSettings fields. Without `evaluate`, no validation or
  final accuracies (they need no test here)."""
  import res_mnist
  from resmnist.recipe import LoopSettings
  res_mnist.train(data or small_datasets(), recipe,
                  LoopSettings(model_dir=str(model_dir), **settings),
                  evaluate=evaluate, extra_hooks=hooks)


class InSession(tf.train.SessionRunHook):
  """Calls `fn(session)` in `res_mnist.train`'s graph once its session
  exists (variables initialised or restored), keeps what it returns in
  `result`, and ends the loop before its first step."""

  def __init__(self, fn):
    self._fn = fn
    self.result = None

  def after_create_session(self, session, coord):
    self.result = self._fn(session)
    coord.request_stop()


def in_training_graph(recipe, model_dir, fn):
  """What `fn(session)` returns in the graph and session of `recipe`'s
  training, before its first step."""
  hook = InSession(fn)
  train_here(recipe, model_dir, hook)
  return hook.result


def logged_losses(output):
  """{step: loss} of the `training step N, loss L` lines of `output`."""
  return {int(step): float(loss) for step, loss in re.findall(
      r'^training step (\d+), loss (\S+) ', output, re.M)}
