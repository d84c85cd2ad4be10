"""The training and evaluation scripts, run for real as a user runs them."""
import os
import re
import shutil

import pytest

from conftest import (SMALL, SMALL_RUN, needs_mnist, one_line_error, run_script,
                      write_dataset)

# Each test runs the scripts for real: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow


def _losses(stdout):
  return [float(v) for v in re.findall(r'^training step \d+, loss (\S+)', stdout,
                                       re.M)]


def _accuracy(stdout, split):
  return float(re.search(r'^%s accuracy (\S+)$' % split, stdout, re.M).group(1))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A 60-step run on synthetic digits, trained once; returns (data_dir,
  model_dir, stdout). A test that trains it further works on a copy."""
  data_dir = write_dataset(str(tmp_path_factory.mktemp('data')))
  model_dir = str(tmp_path_factory.mktemp('trained') / 'model')
  result = run_script('res_mnist.py', '--data_dir=' + data_dir,
                      '--model_dir=' + model_dir, '--max_steps=60', *SMALL_RUN,
                      fresh=True)  # as a user starts it, once
  assert result.returncode == 0, result.stderr
  return data_dir, model_dir, result.stdout


def test_training_learns_and_saves(trained):
  _, model_dir, stdout = trained
  assert re.findall(r'^training step (\d+), loss', stdout, re.M) == ['20', '40', '60']
  losses = _losses(stdout)
  assert losses[-1] < losses[0] / 2
  assert _accuracy(stdout, 'test') > 0.9
  assert 'validation accuracy' in stdout
  files = set(os.listdir(model_dir))
  assert {'checkpoint', 'my_model-20.index', 'my_model-40.index',
          'my_model-60.index'} <= files
  assert not any(f.startswith('my_model-1.') for f in files)  # not every step


def test_restore_continues_the_step_count(trained, tmp_path):
  data_dir, original, _ = trained
  model_dir = str(tmp_path / 'model')
  shutil.copytree(original, model_dir)
  result = run_script('res_mnist.py', '--data_dir=' + data_dir,
                      '--model_dir=' + model_dir, '--max_steps=80', *SMALL_RUN)
  assert result.returncode == 0, result.stderr
  assert 'Restored %s/my_model-60: continuing from step 60' % model_dir in result.stdout
  assert re.findall(r'^training step (\d+),', result.stdout, re.M) == ['80']
  assert os.path.exists(os.path.join(model_dir, 'my_model-80.index'))

  evaluated = run_script('res_mnist_eval.py', '--data_dir=' + data_dir,
                         '--model_dir=' + model_dir, '--nocheck_sha256',
                         fresh=True)
  assert evaluated.returncode == 0, evaluated.stderr
  assert '%s/my_model-80 (step 80), 200 test images' % model_dir in evaluated.stdout
  # The eval script and the end of training agree on the same checkpoint.
  assert _accuracy(evaluated.stdout, 'test') == _accuracy(result.stdout, 'test')

  fresh = run_script('res_mnist.py', '--data_dir=' + data_dir, '--fresh',
                     '--model_dir=' + model_dir, '--max_steps=20', *SMALL_RUN)
  assert fresh.returncode == 0, fresh.stderr
  assert 'Restored' not in fresh.stdout
  assert re.findall(r'^training step (\d+),', fresh.stdout, re.M) == ['20']


def test_eval_named_checkpoint(trained):
  data_dir, model_dir, _ = trained
  result = run_script('res_mnist_eval.py', '--data_dir=' + data_dir,
                      '--checkpoint_path=%s/my_model-40' % model_dir,
                      '--nocheck_sha256')
  assert result.returncode == 0, result.stderr
  assert '(step 40)' in result.stdout


def test_eval_with_test_time_augmentation(trained):
  """--tta reads each digit in 9 variants; shifted and turned synthetic
  digits are still read well."""
  data_dir, model_dir, stdout = trained
  result = run_script('res_mnist_eval.py', '--data_dir=' + data_dir,
                      '--model_dir=' + model_dir, '--nocheck_sha256', '--tta')
  assert result.returncode == 0, result.stderr
  accuracy = re.search(r'^test accuracy (\S+) \(with --tta\)$',
                       result.stdout, re.M)
  assert accuracy and float(accuracy.group(1)) > 0.9, result.stdout


def test_eval_without_checkpoint(small_data, tmp_path):
  result = run_script('res_mnist_eval.py', '--data_dir=' + small_data,
                      '--model_dir=%s' % tmp_path, '--nocheck_sha256')
  line = one_line_error(result, 'res_mnist_eval.py')
  assert 'no checkpoint found' in line


def test_training_on_bad_data(small_data, tmp_path):
  with open(os.path.join(small_data, 't10k-images-idx3-ubyte.gz'), 'wb') as f:
    f.write(b'not gzip')
  result = run_script('res_mnist.py', '--data_dir=' + small_data,
                      '--model_dir=%s' % tmp_path, *SMALL_RUN)
  line = one_line_error(result, 'res_mnist.py')
  assert 't10k-images-idx3-ubyte.gz: not a readable gzip file' in line


def test_training_on_non_mnist_is_refused_by_checksum(small_data, tmp_path):
  result = run_script('res_mnist.py', '--data_dir=' + small_data,
                      '--model_dir=%s' % tmp_path, '--validation_size=100')
  line = one_line_error(result, 'res_mnist.py')
  assert 'SHA-256' in line


@needs_mnist
def test_short_real_run_learns(real_run):
  _, stdout = real_run  # 300 steps of LeNet-5
  losses = _losses(stdout)
  assert len(losses) == 30
  assert losses[-1] < losses[0] / 3
  assert _accuracy(stdout, 'test') > 0.94


def test_batch_larger_than_the_training_split(small_data, tmp_path):
  result = run_script('res_mnist.py', '--data_dir=' + small_data,
                      '--model_dir=' + str(tmp_path / 'model'),
                      *(SMALL + ['--batch_size=100000']))
  assert ('--batch_size=100000 is more than the 500 training images'
          in one_line_error(result))
  assert not (tmp_path / 'model').exists()
