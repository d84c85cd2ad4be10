"""Model directories and checkpoints: model.json, the lock, and their faults
(two trainings, a full disk, a damaged state file), each run for real."""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import Process, SMALL, one_line_error, run_script
from nets import models
from resmnist import checkpoints, model_dir

# Each test runs the scripts for real: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow


def _train(data_dir, model_path, *args):
  return run_script('res_mnist.py', '--data_dir=' + data_dir,
                    '--model_dir=' + model_path, *(SMALL + list(args)))


@pytest.fixture(scope='module')
def trained_dir(tmp_path_factory):
  """A 20-step run with batch norm, saved every 10 steps."""
  from conftest import write_dataset
  data_dir = write_dataset(str(tmp_path_factory.mktemp('data')))
  path = str(tmp_path_factory.mktemp('model'))
  result = _train(data_dir, path, '--batch_norm', '--max_steps=20',
                  '--save_every=10', '--log_every=10')
  assert result.returncode == 0, result.stderr
  return data_dir, path, result.stdout


def _copy(trained_dir, tmp_path):
  data_dir, path, stdout = trained_dir
  copy = str(tmp_path / 'model')
  shutil.copytree(path, copy)
  return data_dir, copy, stdout


def _test_accuracy(stdout):
  return re.search(r'^test accuracy (\S+)$', stdout, re.M).group(1)


def test_training_writes_model_json(trained_dir):
  _, path, _ = trained_dir
  with open(os.path.join(path, 'model.json')) as f:
    info = json.load(f)
  assert info['net'] == 'resnet' and info['dataset'] == 'mnist'
  assert info['batch_norm'] is True
  assert (info['num_classes'], info['image_size'], info['channels']) == (10, 28, 1)
  assert info['recipe']['batch_norm'] is True
  assert info['recipe']['max_steps'] == 20


def test_eval_reads_model_json_and_old_dirs_still_load(trained_dir, tmp_path):
  data_dir, path, stdout = _copy(trained_dir, tmp_path)
  args = ['--data_dir=' + data_dir, '--model_dir=' + path, '--nocheck_sha256']
  with_info = run_script('res_mnist_eval.py', *args)
  assert with_info.returncode == 0, with_info.stderr
  assert _test_accuracy(with_info.stdout) == _test_accuracy(stdout)
  # A model directory made before model.json: told from the checkpoint.
  os.remove(os.path.join(path, 'model.json'))
  without = run_script('res_mnist_eval.py', *args)
  assert without.returncode == 0, without.stderr
  assert _test_accuracy(without.stdout) == _test_accuracy(stdout)
  with models.load_model(path, log=lambda _: None) as model:
    assert model.info.batch_norm is True
    assert model.step_restored == 20


def test_unreadable_model_json_is_one_line(trained_dir, tmp_path):
  data_dir, path, _ = _copy(trained_dir, tmp_path)
  with open(os.path.join(path, 'model.json'), 'w') as f:
    f.write('{"net": ')
  result = run_script('res_mnist_eval.py', '--data_dir=' + data_dir,
                      '--model_dir=' + path, '--nocheck_sha256')
  assert 'model.json: cannot read it' in one_line_error(result,
                                                        'res_mnist_eval.py')


def test_a_network_this_package_lacks_is_one_error(trained_dir, tmp_path):
  _, path, _ = _copy(trained_dir, tmp_path)
  with open(os.path.join(path, 'model.json')) as f:
    info = json.load(f)
  with open(os.path.join(path, 'model.json'), 'w') as f:
    json.dump(dict(info, net='alexnet'), f)
  with pytest.raises(model_dir.ModelDirError,
                     match="holds a 'alexnet', a network this package does "
                     'not have'):
    models.load_model(path, log=lambda _: None)


def test_second_training_on_a_model_dir_is_refused(small_data, tmp_path):
  path = str(tmp_path / 'model')
  first = Process('res_mnist.py', '--data_dir=' + small_data,
                  '--model_dir=' + path, '--max_steps=100000', '--log_every=1',
                  '--save_every=1000', '--net=lenet5', *SMALL)
  try:
    first.wait_for(r'^training step 2,')
    # Stopped, it still holds the lock, and leaves both cores to the second.
    first.popen.send_signal(signal.SIGSTOP)
    second = _train(small_data, path, '--max_steps=10', '--net=lenet5')
    line = one_line_error(second)
    assert ('%s: another training (process %d) is using this model '
            'directory' % (path, first.popen.pid)) in line
    assert first.popen.poll() is None  # the first goes on
  finally:
    first.popen.kill()  # no handler runs: the kernel drops the lock
    first.wait(time.time() + 60)
  third = _train(small_data, path, '--max_steps=4', '--log_every=1',
                 '--net=lenet5')
  assert third.returncode == 0, third.stderr
  assert 'continuing from step' in third.stdout


@pytest.fixture
def tiny_disk(tmp_path):
  """A 24 MB tmpfs: room for two checkpoints of this network, not three."""
  mount_point = tmp_path / 'disk'
  mount_point.mkdir()
  mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=24m', 'tmpfs',
                            str(mount_point)], capture_output=True)
  if mounted.returncode:
    pytest.skip('cannot mount a tmpfs here (needs root): %s'
                % mounted.stderr.decode().strip())
  try:
    yield mount_point
  finally:
    subprocess.run(['umount', str(mount_point)])


def test_full_disk_during_a_save(small_data, tiny_disk):
  path = str(tiny_disk / 'model')
  result = _train(small_data, path, '--max_steps=100', '--save_every=10',
                  '--log_every=10')
  line = one_line_error(result)
  match = re.match(r'res_mnist.py: error: stopped at step (\d+) while saving a '
                   r'checkpoint: No space left on device; the last good '
                   r'checkpoint is (\S+) \(run the same command again to '
                   r'continue from it\)$', line)
  assert match, line
  last_good = match.group(2)
  assert last_good == '%s/my_model-%d' % (path, int(match.group(1)) - 10)
  assert not glob.glob(path + '/**/*tempstate*', recursive=True)
  subprocess.run(['mount', '-o', 'remount,size=100m', str(tiny_disk)],
                 check=True)
  step = int(last_good.rsplit('-', 1)[1])
  resumed = _train(small_data, path, '--max_steps=%d' % (step + 10),
                   '--save_every=10', '--log_every=10')
  assert resumed.returncode == 0, resumed.stderr
  assert 'Restored %s: continuing from step %d' % (last_good, step) in resumed.stdout


@pytest.mark.parametrize('damage', ['garbage', 'names a deleted checkpoint',
                                    'deleted'])
def test_damaged_state_file(trained_dir, tmp_path, damage):
  """The newest intact checkpoint is found from the files, and said so."""
  data_dir, path, _ = _copy(trained_dir, tmp_path)
  state = os.path.join(path, 'checkpoint')
  if damage == 'garbage':
    with open(state, 'wb') as f:
      f.write(b'\x00\xffnot a checkpoint state {{')
  elif damage == 'deleted':
    os.remove(state)
  else:
    with open(state, 'w') as f:
      f.write('model_checkpoint_path: "my_model-99"\n')
  evaluated = run_script('res_mnist_eval.py', '--data_dir=' + data_dir,
                         '--model_dir=' + path, '--nocheck_sha256')
  assert evaluated.returncode == 0, evaluated.stderr
  assert re.search(r'checkpoint: the checkpoint state file .*; using the newest '
                   r'intact checkpoint found among the files, \S+my_model-20$',
                   evaluated.stdout, re.M), evaluated.stdout
  assert '(step 20)' in evaluated.stdout
  if damage != 'garbage':
    return  # training finds its checkpoint the same way: once is enough
  resumed = _train(data_dir, path, '--batch_norm', '--max_steps=22',
                   '--log_every=1')
  assert resumed.returncode == 0, resumed.stderr
  assert 'continuing from step 20' in resumed.stdout


def test_damaged_state_file_and_newest_checkpoint(trained_dir, tmp_path):
  data_dir, path, _ = _copy(trained_dir, tmp_path)
  with open(os.path.join(path, 'checkpoint'), 'w') as f:
    f.write('garbage')
  data_file = glob.glob(path + '/my_model-20.data-*')[0]
  with open(data_file, 'r+b') as f:
    f.truncate(os.path.getsize(data_file) // 2)
  resumed = _train(data_dir, path, '--batch_norm', '--max_steps=12',
                   '--log_every=1')
  assert resumed.returncode == 0, resumed.stderr
  assert re.search(r'newest intact checkpoint found among the files, '
                   r'\S+my_model-10$', resumed.stdout, re.M), resumed.stdout
  assert 'continuing from step 10' in resumed.stdout


def test_no_intact_checkpoint_never_starts_over(trained_dir, tmp_path):
  data_dir, path, _ = _copy(trained_dir, tmp_path)
  with open(os.path.join(path, 'checkpoint'), 'w') as f:
    f.write('garbage')
  for index in glob.glob(path + '/*.index'):
    with open(index, 'wb') as f:
      f.write(b'broken')
  result = _train(data_dir, path, '--batch_norm', '--max_steps=30')
  assert 'none of the 3 checkpoints can be read' in one_line_error(result)
  assert not os.path.exists(os.path.join(path, 'my_model-30.index'))


def test_find_checkpoint_in_an_empty_dir(tmp_path):
  assert checkpoints.find_checkpoint(str(tmp_path)) is None
  with pytest.raises(checkpoints.CheckpointError, match='no checkpoint found'):
    checkpoints.require_checkpoint(str(tmp_path))
  with pytest.raises(model_dir.ModelDirError, match='not writable|cannot'):
    model_dir.make('/proc/model')
