"""What a model gets wrong, and how sure it should be: the report of
res_mnist_eval.py --report, temperature scaling and its ECE."""
import json
import os
import re

import numpy as np
import pytest

from conftest import (MNIST_DIR, needs_mnist, one_line_error, run_script,
                      small_datasets, tf, train_here)
from resmnist import calibration
from resmnist import report
from resmnist.recipe import Recipe


def _model_of(rng, n, scale, classes=10):
  """Logits of `n` readings, right about 80% of the time (noise around the
  label's), whose confidence grows with `scale`; and their labels. At
  scale 2.5 they are about calibrated."""
  labels = rng.randint(0, classes, n)
  logits = rng.randn(n, classes)
  logits[np.arange(n), labels] += 2.5
  return logits * scale, labels


@pytest.mark.parametrize('scale, direction', [(10.0, 'over'), (0.5, 'under')])
def test_a_fitted_temperature_lowers_the_ece(scale, direction):
  """An over-confident model is softened, T > 1; an under-confident one
  sharpened, T < 1; the ECE falls on readings that took no part in the
  fit."""
  rng = np.random.RandomState(0)
  fit_logits, fit_labels = _model_of(rng, 4000, scale)
  logits, labels = _model_of(rng, 4000, scale)
  temperature = calibration.fit_temperature(fit_logits, fit_labels)
  assert (temperature > 1.5) if direction == 'over' else (temperature < 0.7)
  before = calibration.expected_calibration_error(
      calibration.softmax(logits), labels)
  after = calibration.expected_calibration_error(
      calibration.softmax(logits, temperature), labels)
  assert before > 0.1 and after < before / 3, (before, after)
  # The class read does not change.
  np.testing.assert_array_equal(
      calibration.softmax(logits).argmax(1),
      calibration.softmax(logits, temperature).argmax(1))


def test_ece_of_a_calibrated_model_is_small_and_exact_on_one_bin():
  # Always 75% sure, right 3 times in 4: calibrated.
  probabilities = np.full((4, 4), 0.25 / 3)
  probabilities[:, 0] = 0.75
  assert calibration.expected_calibration_error(
      probabilities, np.array([0, 0, 0, 1])) == pytest.approx(0.0)
  # Always 75% sure, always right: 25% under-confident.
  assert calibration.expected_calibration_error(
      probabilities, np.zeros(4, int)) == pytest.approx(0.25)


def test_the_misread_are_exactly_those_read_wrong():
  rng = np.random.RandomState(1)
  logits, labels = _model_of(rng, 500, 0.5)
  after = calibration.softmax(logits)
  numbers = report.compute(after, after, labels, [str(d) for d in range(10)])
  wrong = np.nonzero(after.argmax(1) != labels)[0]
  assert sorted(numbers['misread']) == wrong.tolist()
  confidence = after.max(1)[numbers['misread']]
  assert (np.diff(confidence) <= 0).all()  # the surest first
  assert [s['index'] for s in numbers['shown']] == numbers['misread'][:100]
  matrix = np.array(numbers['confusion_matrix'])
  assert matrix.sum() == 500 and np.trace(matrix) == 500 - len(wrong)
  assert matrix.sum(1).tolist() == np.bincount(labels, minlength=10).tolist()


@pytest.mark.slow
def test_a_model_keeps_its_temperature_and_every_reader_uses_it(tmp_path,
                                                                capsys):
  """Training ends by fitting the temperature on the validation split; it
  is in model.json, and the loaded model's probabilities are the softmax of
  its logits divided by it."""
  from nets import models
  train_here(Recipe(net='lenet5', max_steps=30, batch_size=50, seed=1),
             tmp_path, evaluate=True)
  out = capsys.readouterr().out
  assert re.search(r'^calibration: temperature [\d.]+, fitted on the 100 '
                   r'validation images; test ECE [\d.]+% before, [\d.]+% '
                   r'after$', out, re.M), out
  with open(tmp_path / 'model.json') as f:
    temperature = json.load(f)['temperature']
  images = small_datasets().test.images[:20]
  with models.load_model(str(tmp_path)) as model:
    assert model.info.temperature == temperature
    np.testing.assert_allclose(
        model.predict(images),
        calibration.softmax(model.logits_of(images), temperature), atol=1e-5)


def _small_model(tmp_path, dataset='mnist'):
  """A LeNet-5 model dir of a few steps on synthetic images, without a
  temperature (as one trained before they were fitted)."""
  data = small_datasets()
  train_here(Recipe(net='lenet5', dataset=dataset, max_steps=20,
                    batch_size=50, seed=1, validation_size=100), tmp_path,
             data=data)
  return str(tmp_path)


@pytest.mark.slow
def test_eval_report_of_a_fashion_model_names_its_classes(tmp_path):
  model_dir = _small_model(tmp_path / 'model', 'fashion_mnist')
  data_dir = str(tmp_path / 'data')
  from conftest import write_dataset
  write_dataset(data_dir, n_train=600, n_test=200)
  result = run_script('res_mnist_eval.py', '--model_dir=' + model_dir,
                      '--data_dir=' + data_dir, '--nocheck_sha256',
                      '--report=' + str(tmp_path / 'report'))
  assert result.returncode == 0, result.stderr
  # No temperature yet: fitted on its held-out images, and kept.
  assert re.search(r'^calibration: temperature [\d.]+, fitted on the 100 '
                   r'validation images, written to %s/model.json; test ECE '
                   % re.escape(model_dir), result.stdout, re.M), result.stdout
  with open(os.path.join(model_dir, 'model.json')) as f:
    assert json.load(f)['temperature'] > 0
  numbers = json.load(open(tmp_path / 'report' / 'report.json'))
  assert numbers['class_names'][0] == 'T-shirt/top'
  assert 'Ankle boot' in result.stdout  # the table names them too
  matrix = np.array(numbers['confusion_matrix'])
  assert matrix.sum() == 200
  accuracy = float(re.search(r'^test accuracy (\S+)$', result.stdout,
                             re.M).group(1))
  assert np.trace(matrix) / 200 == pytest.approx(accuracy, abs=1e-4)
  for name in ('confusion.png', 'misread.png', 'reliability.png'):
    with open(tmp_path / 'report' / name, 'rb') as f:
      assert f.read(8) == b'\x89PNG\r\n\x1a\n', name


def _eval_report(model_dir, data_dir, directory, *flags):
  """res_mnist_eval.py --report=directory: (stdout, report.json's numbers,
  the test accuracy it printed)."""
  result = run_script('res_mnist_eval.py', '--model_dir=' + model_dir,
                      '--data_dir=' + data_dir, '--report=' + directory,
                      *flags)
  assert result.returncode == 0, result.stderr
  with open(os.path.join(directory, 'report.json')) as f:
    numbers = json.load(f)
  printed = float(re.search(r'^test accuracy (\S+)', result.stdout,
                            re.M).group(1))
  return result.stdout, numbers, printed


@pytest.mark.slow
def test_a_report_with_tta_sums_to_the_test_set(tmp_path):
  """--tta reads each image in 9 variants: the matrix still counts each
  test image once, and its diagonal is the accuracy printed."""
  model_dir = _small_model(tmp_path / 'model')
  from conftest import write_dataset
  data_dir = write_dataset(str(tmp_path / 'data'))
  _, numbers, printed = _eval_report(model_dir, data_dir,
                                     str(tmp_path / 'report'), '--tta',
                                     '--nocheck_sha256')
  matrix = np.array(numbers['confusion_matrix'])
  assert matrix.sum() == 200
  assert np.trace(matrix) / 200 == pytest.approx(printed, abs=1e-4)
  assert len(numbers['misread']) == 200 - np.trace(matrix)


@pytest.mark.slow
@needs_mnist
def test_report_of_a_real_model_sums_to_the_test_set(real_run, tmp_path):
  """The matrix sums to 10,000, its diagonal to the accuracy the script
  prints; the misread are exactly the images whose top logit is not the
  label."""
  model_dir = real_run[0]
  from nets import models
  from resmnist import input_data
  test = input_data.read_data_sets(MNIST_DIR, validation_size=0).test
  with models.load_model(model_dir) as model:
    wrong = np.nonzero(model.logits_of(test.images).argmax(1)
                       != test.labels.argmax(1))[0]
  stdout, numbers, printed = _eval_report(model_dir, MNIST_DIR,
                                          str(tmp_path / 'report'))
  matrix = np.array(numbers['confusion_matrix'])
  assert matrix.sum() == 10000
  assert np.trace(matrix) / 10000 == pytest.approx(printed, abs=1e-4)
  assert re.search(r'^calibration: temperature [\d.]+ \(model.json\); test '
                   r'ECE [\d.]+% before, [\d.]+% after$', stdout, re.M), stdout
  assert sorted(numbers['misread']) == wrong.tolist()


@pytest.mark.slow
def test_report_to_a_directory_it_cannot_write_is_one_line(tmp_path):
  model_dir = _small_model(tmp_path / 'model')
  data_dir = str(tmp_path / 'data')
  from conftest import write_dataset
  write_dataset(data_dir)
  blocker = tmp_path / 'file'
  blocker.write_text('not a directory')
  result = run_script('res_mnist_eval.py', '--model_dir=' + model_dir,
                      '--data_dir=' + data_dir, '--nocheck_sha256',
                      '--report=' + str(blocker / 'report'))
  line = one_line_error(result, 'res_mnist_eval.py')
  assert 'cannot write the report' in line


@pytest.mark.slow
def test_validation_writes_the_confusion_matrix_for_tensorboard(tmp_path):
  train_here(Recipe(net='lenet5', max_steps=20, batch_size=50, seed=1),
             tmp_path, evaluate=True, eval_every=10)
  images = []
  for path in tf.io.gfile.glob(str(tmp_path / 'validation' / 'events.*')):
    for event in tf.train.summary_iterator(path):
      images += [(event.step, value.image) for value in event.summary.value
                 if value.tag == 'confusion_matrix']
  assert [step for step, _ in images] == [10, 20]
  assert images[0][1].encoded_image_string[:8] == b'\x89PNG\r\n\x1a\n'
  assert images[0][1].width > 300
