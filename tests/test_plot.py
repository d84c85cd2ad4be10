"""res_mnist_plot.py: the training curves from TensorBoard's events."""
import os

import pytest

from conftest import SMALL_RUN, run_script

# Each test runs the scripts for real: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow


def test_training_curves_png(small_data, tmp_path):
  model_dir = str(tmp_path / 'model')
  result = run_script('res_mnist.py', '--data_dir=' + small_data,
                      '--model_dir=' + model_dir, '--max_steps=40',
                      '--net=lenet5',  # the curves are the subject
                      '--eval_every=20', *SMALL_RUN)
  assert result.returncode == 0, result.stderr
  plotted = run_script('res_mnist_plot.py', '--model_dir=' + model_dir,
                       fresh=True)
  assert plotted.returncode == 0, plotted.stderr
  assert plotted.stdout.strip() == ('Wrote %s/training_curves.png (2 training '
                                    'points, 2 validation points)' % model_dir)
  with open(os.path.join(model_dir, 'training_curves.png'), 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  empty = run_script('res_mnist_plot.py', '--model_dir=%s' % tmp_path)
  assert empty.returncode == 1
  assert 'no training summaries found' in empty.stderr
