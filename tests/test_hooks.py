"""The training loop's hooks: batch norm's averages, precise batch norm, the clock."""
import json
import os
import re

import numpy as np
import pytest

from conftest import SMALL_RUN, run_script, tf
from resmnist import hooks

# Each test runs the scripts for real: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow


def _checkpoint_values(path, suffix):
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if name.endswith(suffix)}


def test_batch_norm_run_updates_moving_averages(small_data, tmp_path):
  model_dir = str(tmp_path / 'bn')
  result = run_script('res_mnist.py', '--data_dir=' + small_data,
                      '--model_dir=' + model_dir, '--batch_norm',
                      '--max_steps=20', '--eval_every=10', '--report_test',
                      *SMALL_RUN)
  assert result.returncode == 0, result.stderr
  means = _checkpoint_values(model_dir + '/my_model-20', 'moving_mean')
  variances = _checkpoint_values(model_dir + '/my_model-20', 'moving_variance')
  assert len(means) == len(variances) == 14
  assert all(np.abs(m).max() > 0 for m in means.values())  # they start at 0
  assert all(not np.allclose(v, 1) for v in variances.values())  # and at 1
  assert re.search(r'^validation accuracy \S+ at step 10 \(best so far\), '
                   r'0:00:\d\d of training$',
                   result.stdout, re.M)
  assert re.search(r'^test accuracy \S+ at step 20 \(reported only\)$',
                   result.stdout, re.M)
  assert 'best validation checkpoint %s/best/my_model-' % model_dir in result.stdout

  evaluated = run_script('res_mnist_eval.py', '--data_dir=' + small_data,
                         '--model_dir=' + model_dir, '--nocheck_sha256')
  assert evaluated.returncode == 0, evaluated.stderr
  final = re.search(r'^test accuracy (\S+)$', result.stdout, re.M).group(1)
  assert 'test accuracy %s' % final in evaluated.stdout

  wrong = run_script('res_mnist.py', '--data_dir=' + small_data,
                     '--model_dir=' + model_dir, '--max_steps=40', *SMALL_RUN)
  assert wrong.returncode == 1
  lines = wrong.stderr.strip().splitlines()
  assert len(lines) == 1, wrong.stderr
  assert re.match(r'res_mnist.py: error: .*/my_model-20: checkpoint of another '
                  r'graph, it has no variable \S+; it was trained with '
                  r'--batch_norm$', lines[0])


def test_precise_batch_norm_recomputes_only_the_moving_averages(small_data,
                                                                 tmp_path):
  """--precise_batch_norm: same weights as without it, other moving averages,
  and the final checkpoint (what validation and evaluation see) holds them."""
  checkpoints = {}
  for batches in (0, 30):
    model_dir = str(tmp_path / str(batches))
    result = run_script('res_mnist.py', '--data_dir=' + small_data,
                        '--model_dir=' + model_dir, '--batch_norm',
                        '--max_steps=10', '--learning_rate=0.01',
                        '--lr_schedule=constant', '--eval_every=10',
                        '--augment', '--cutout=4',  # fed past them
                        '--precise_batch_norm=%d' % batches, *SMALL_RUN)
    assert result.returncode == 0, result.stderr
    recomputed = re.findall(r"^batch norm's moving averages recomputed over "
                            r"(\d+) training batches with the weights of step "
                            r"10 \(\S+ s\)$", result.stdout, re.M)
    assert recomputed == ([str(batches)] if batches else []), result.stdout
    checkpoints[batches] = tf.train.load_checkpoint(model_dir + '/my_model-10')
    with open(os.path.join(model_dir, 'model.json')) as f:
      assert json.load(f)['recipe']['precise_batch_norm'] == batches
  names = checkpoints[0].get_variable_to_shape_map()
  averages = [n for n in names if n.endswith(('moving_mean', 'moving_variance'))]
  weights = [n for n in names if '/' in n and n not in averages
             and 'Adam' not in n]
  assert len(averages) == 28 and len(weights) > 28
  for name in weights:  # the same seed trained the same weights
    np.testing.assert_allclose(checkpoints[30].get_tensor(name),
                               checkpoints[0].get_tensor(name), rtol=1e-5,
                               atol=1e-6, err_msg=name)
  changed = [n for n in averages if not np.allclose(
      checkpoints[30].get_tensor(n), checkpoints[0].get_tensor(n), rtol=1e-3)]
  assert len(changed) == len(averages)

  no_batch_norm = run_script('res_mnist.py', '--data_dir=' + small_data,
                             '--model_dir=' + str(tmp_path / 'none'),
                             '--precise_batch_norm=10', *SMALL_RUN)
  assert no_batch_norm.returncode == 1
  assert no_batch_norm.stderr.strip() == (
      'res_mnist.py: error: --precise_batch_norm=10 needs batch norm '
      '(--batch_norm, or a network that has it); --net=resnet has none')


def test_training_clock_leaves_out_start_up_and_evaluations(monkeypatch):
  now = [100.0]
  monkeypatch.setattr(hooks.time, 'time', lambda: now[0])
  clock = hooks.TrainingClock()
  now[0] += 5  # building the session: not training
  assert clock.elapsed() == 0.0
  clock.start()  # the first step
  now[0] += 3
  with clock.paused():  # an evaluation
    now[0] += 10
  now[0] += 2
  clock.start()  # later steps do not restart it
  assert clock.elapsed() == 5.0
