"""Faults and bad input, run for real: signals, NaN, bad flags, broken files."""
import glob
import gzip
import os
import re
import shutil
import signal
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import (Process, SMALL, idx_bytes, one_line_error, run_script,
                      synthetic_digits, write_dataset)
from nets import models
from resmnist import input_data

# Each test runs the scripts for real: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow

# LeNet-5 where the fault, not the network, is the subject: its graph builds
# in a moment.
LENET = SMALL + ['--net=lenet5']


def _steps(stdout):
  return [int(s) for s in re.findall(r'^training step (\d+),', stdout, re.M)]


@pytest.mark.parametrize('signum,status', [(signal.SIGINT, 130),
                                           (signal.SIGTERM, 143)])
def test_signal_saves_and_resume_continues(small_data, tmp_path, signum, status):
  model_dir = str(tmp_path / 'model')
  process = Process('res_mnist.py', '--data_dir=' + small_data,
                    '--model_dir=' + model_dir, '--max_steps=100000',
                    '--log_every=1', '--save_every=1000', *LENET)
  process.wait_for(r'^training step 5,')
  process.popen.send_signal(signum)
  assert process.wait(time.time() + 120) == status, process.errors
  lines = process.errors.strip().splitlines()
  assert len(lines) == 1, process.errors
  match = re.match(r'res_mnist.py: interrupted by %s at step (\d+): saved '
                   r'(\S+); run the same command again to continue$'
                   % signal.Signals(signum).name, lines[0])
  assert match, lines[0]
  step, path = int(match.group(1)), match.group(2)
  assert step >= 5
  assert path == '%s/my_model-%d' % (model_dir, step)
  assert os.path.exists(path + '.index')

  resumed = run_script('res_mnist.py', '--data_dir=' + small_data,
                       '--model_dir=' + model_dir, '--max_steps=%d' % (step + 4),
                       '--log_every=1', *LENET)
  assert resumed.returncode == 0, resumed.stderr
  assert 'continuing from step %d' % step in resumed.stdout
  assert _steps(resumed.stdout) == list(range(step + 1, step + 5))
  assert os.path.exists('%s/my_model-%d.index' % (model_dir, step + 4))


def test_nan_loss_stops_and_keeps_checkpoints(small_data, tmp_path):
  model_dir = str(tmp_path / 'model')
  result = run_script('res_mnist.py', '--data_dir=' + small_data,
                      '--model_dir=' + model_dir, '--learning_rate=1e30',
                      '--max_steps=200', '--save_every=1', '--log_every=1',
                      *SMALL)
  line = one_line_error(result)
  match = re.match(r'res_mnist.py: error: the loss is (nan|inf) at step (\d+): '
                   r'stopped without saving these weights; the last good '
                   r'checkpoint is (\S+) \(try a lower --learning_rate\)$', line)
  assert match, line
  step = int(match.group(2))
  assert match.group(3) == '%s/my_model-%d' % (model_dir, step - 1)
  assert not os.path.exists('%s/my_model-%d.index' % (model_dir, step))
  assert os.path.exists(match.group(3) + '.index')


BAD_FLAGS = [
    (['--batch_size=0'], 'flag --batch_size=0: 0 is not a positive integer'),
    (['--max_steps=-3'], 'flag --max_steps=-3: -3 is not a positive integer'),
    (['--learning_rate=0'], 'flag --learning_rate=0.0: must be greater than 0'),
    (['--epochs=-1'], 'flag --epochs=-1: -1.0 is not a non-negative number'),
    (['--preset=fastest'], 'flag --preset=fastest: value should be one of '
     '<best|fast|sprint|fashion_hour|mnist_hour|article001|article002|article003_deep_mnist|article003_lenet5>'),
]


@pytest.mark.parametrize('args,message', BAD_FLAGS)
def test_bad_flags(args, message, tmp_path):
  result = run_script('res_mnist.py', '--model_dir=%s' % tmp_path, *args)
  assert one_line_error(result) == 'res_mnist.py: error: ' + message
  assert os.listdir(tmp_path) == []


def test_model_dir_that_cannot_be_made(small_data, tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('x')
  result = run_script('res_mnist.py', '--data_dir=' + small_data,
                      '--model_dir=%s/model' % blocker, *SMALL)
  line = one_line_error(result)
  assert 'cannot create the model directory' in line


def test_data_dir_is_a_file(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('x')
  result = run_script('res_mnist.py', '--data_dir=%s' % blocker,
                      '--model_dir=%s/model' % tmp_path)
  assert 'the data directory is a file' in one_line_error(result)
  assert not os.path.exists(tmp_path / 'model')


def test_too_little_data_for_validation(small_data, tmp_path):
  result = run_script('res_mnist.py', '--data_dir=' + small_data,
                      '--model_dir=%s' % tmp_path, '--nocheck_sha256',
                      '--validation_size=5000')
  assert 'validation size 5000 must be between 0 and 600' in one_line_error(result)


@pytest.fixture(scope='module')
def short_run(tmp_path_factory):
  """10 steps saved at 5 and 10, trained once: tests that damage it copy it."""
  data_dir = write_dataset(str(tmp_path_factory.mktemp('data')))
  model_dir = str(tmp_path_factory.mktemp('short_run') / 'model')
  result = run_script('res_mnist.py', '--data_dir=' + data_dir,
                      '--model_dir=' + model_dir, '--max_steps=10',
                      '--save_every=5', '--log_every=1', *LENET)
  assert result.returncode == 0, result.stderr
  return data_dir, model_dir, result


@pytest.mark.parametrize('damage', ['truncate', 'garbage', 'delete'])
def test_corrupt_checkpoint(short_run, damage, tmp_path):
  data_dir, trained, _ = short_run
  model_dir = str(tmp_path / 'model')
  shutil.copytree(trained, model_dir)
  data_file = glob.glob(model_dir + '/my_model-10.data-*')[0]
  if damage == 'truncate':
    with open(data_file, 'r+b') as f:
      f.truncate(os.path.getsize(data_file) // 2)
  elif damage == 'garbage':
    with open(model_dir + '/my_model-10.index', 'wb') as f:
      f.write(b'\x00garbage' * 10)
  else:
    os.remove(data_file)
  evaluated = run_script('res_mnist_eval.py', '--data_dir=' + data_dir,
                         '--model_dir=' + model_dir, '--nocheck_sha256')
  line = one_line_error(evaluated, 'res_mnist_eval.py')
  assert re.search(r'my_model-10: cannot (read|restore) the checkpoint \(.*\); '
                   r'it may be truncated or corrupt$', line), line
  resumed = run_script('res_mnist.py', '--data_dir=' + data_dir,
                       '--model_dir=' + model_dir, '--max_steps=20', *LENET)
  assert 'my_model-10: cannot' in one_line_error(resumed)
  if damage != 'delete':
    return  # the earlier checkpoint's check, once is enough
  # The earlier checkpoint is untouched and still evaluates.
  earlier = run_script('res_mnist_eval.py', '--data_dir=' + data_dir,
                       '--checkpoint_path=%s/my_model-5' % model_dir,
                       '--nocheck_sha256')
  assert earlier.returncode == 0, earlier.stderr
  assert '(step 5)' in earlier.stdout


def test_same_seed_same_loss_trajectory(short_run, tmp_path):
  data_dir, _, first = short_run
  again = run_script('res_mnist.py', '--data_dir=' + data_dir, '--fresh',
                     '--model_dir=%s/again' % tmp_path, '--max_steps=10',
                     '--log_every=1', *LENET)
  assert again.returncode == 0, again.stderr
  losses = re.findall(r'^training step \d+, loss (\S+)', first.stdout, re.M)
  assert len(losses) == 10
  assert re.findall(r'^training step \d+, loss (\S+)', again.stdout, re.M) == losses


def _small_idx_files():
  images, labels = synthetic_digits(3, 0)
  return idx_bytes(images), idx_bytes(labels)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(['images', 'labels']),
       cut=st.integers(min_value=0, max_value=3000),
       flips=st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 255)),
                      max_size=4),
       compress=st.booleans())
def test_idx_reader_fuzz(tmp_path_factory, which, cut, flips, compress):
  """Truncated or bit-flipped files only ever raise the reader's DataError."""
  images, labels = _small_idx_files()
  data = bytearray(images if which == 'images' else labels)
  if compress:
    data = bytearray(gzip.compress(bytes(data)))
  data = data[:cut] if cut < len(data) else data
  for position, mask in flips:
    if data and position < len(data):
      data[position] ^= mask
  path = tmp_path_factory.mktemp('fuzz') / ('t10k-%s-idx%d-ubyte.gz'
                                            % (which, 3 if which == 'images' else 1))
  if compress:
    path.write_bytes(bytes(data))
  else:
    with gzip.open(path, 'wb') as f:
      f.write(bytes(data))
  try:
    array = input_data._read_idx(str(path))
  except input_data.DataError as e:
    assert '\n' not in str(e) and str(path) in str(e)
  else:
    assert array.dtype == np.uint8
    assert array.shape[1:] in ((28, 28), ())


def test_kill_during_saves_leaves_a_usable_checkpoint(small_data, tmp_path):
  """SIGKILL (no handler can run) at moments when a save is likely under way:
  the latest checkpoint listed must always restore, and training resumes."""
  model_dir = str(tmp_path / 'model')
  for lines, delay in ((4, 0.0), (3, 0.013), (5, 0.029), (2, 0.047)):
    process = Process('res_mnist.py', '--data_dir=' + small_data,
                      '--model_dir=' + model_dir, '--max_steps=100000',
                      '--log_every=1', '--save_every=1', *LENET)
    process.wait_for(r'^training step', count=lines)
    time.sleep(delay)
    process.popen.kill()
    process.wait(time.time() + 60)
    # Restored as res_mnist_eval.py restores, in this process: a subprocess
    # per kill cost a TensorFlow start-up each and showed nothing more.
    with models.load_model(model_dir, log=lambda _: None) as model:
      step = model.step_restored
  resumed = run_script('res_mnist.py', '--data_dir=' + small_data,
                       '--model_dir=' + model_dir, '--max_steps=%d' % (step + 2),
                       '--log_every=1', *LENET)
  assert resumed.returncode == 0, resumed.stderr
  assert 'continuing from step %d' % step in resumed.stdout
