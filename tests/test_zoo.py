"""The zoo from the scripts: --net, --dataset, the articles' presets, and a
checkpoint of every network through training, the loader and export."""
import json
import os
import re

import numpy as np
import pytest

from conftest import ROOT, SMALL, one_line_error, run_script, tf
from nets import models
from nets import nets_factory
from resmnist import input_data

# Each test runs the scripts for real: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow

FASHION_DIR = os.path.join(ROOT, 'Fashion_MNIST_data')
# Every network but the post's ResNet, which the other scripts' tests train.
ZOO = sorted(set(nets_factory.NETWORKS) - {'resnet'})


@pytest.fixture(scope='module')
def zoo_data(tmp_path_factory):
  from conftest import write_dataset
  return write_dataset(str(tmp_path_factory.mktemp('data')), n_train=200,
                       n_test=40)


@pytest.mark.parametrize('name', ZOO)
def test_every_network_trains_loads_and_exports(zoo_data, tmp_path, name):
  model_dir = str(tmp_path / 'model')
  trained = run_script('res_mnist.py', '--net=' + name, '--data_dir=' + zoo_data,
                       '--model_dir=' + model_dir, '--max_steps=2',
                       '--batch_size=4', '--log_every=1', '--nocheck_sha256',
                       '--validation_size=20', '--seed=1')
  assert trained.returncode == 0, trained.stderr
  final = re.search(r'^test accuracy (\S+)$', trained.stdout, re.M).group(1)
  with open(os.path.join(model_dir, 'model.json')) as f:
    assert json.load(f)['net'] == name
  data = input_data.read_data_sets(zoo_data, validation_size=0, sha256=None)
  with models.load_model(model_dir, log=lambda _: None) as model:
    assert model.info.net == name and model.step_restored == 2
    # The eval graph gives what training reported for the same checkpoint.
    assert '%.4f' % model.evaluate(data.test)[0] == final
    probabilities = model.predict(data.test.images[:3])
  assert probabilities.shape == (3, 10)
  np.testing.assert_allclose(probabilities.sum(1), 1, rtol=1e-5)
  exported = run_script('res_mnist_export.py', '--model_dir=' + model_dir,
                        '--export_dir=%s' % (tmp_path / 'export'))
  assert exported.returncode == 0, exported.stderr
  assert os.path.exists(tmp_path / 'export' / '2' / 'saved_model.pb')


def test_eval_and_predict_read_the_network_and_dataset(zoo_data, tmp_path):
  model_dir = str(tmp_path / 'model')
  trained = run_script('res_mnist.py', '--net=lenet5', '--dataset=fashion_mnist',
                       '--data_dir=' + zoo_data, '--model_dir=' + model_dir,
                       '--max_steps=3', *SMALL)
  assert trained.returncode == 0, trained.stderr
  evaluated = run_script('res_mnist_eval.py', '--model_dir=' + model_dir,
                         '--data_dir=' + zoo_data, '--nocheck_sha256')
  assert evaluated.returncode == 0, evaluated.stderr
  assert '(step 3), 40 test images' in evaluated.stdout
  wrong = run_script('res_mnist_eval.py', '--model_dir=' + model_dir,
                     '--data_dir=' + zoo_data, '--nocheck_sha256', '--net=vgg16')
  assert ('holds a lenet5, not a vgg16 (--net)'
          in one_line_error(wrong, 'res_mnist_eval.py'))
  image = tmp_path / 'item.png'
  with tf.Graph().as_default(), tf.Session() as sess:
    pixels = np.full((40, 40, 3), 255, np.uint8)
    pixels[8:32, 15:25] = 0
    image.write_bytes(sess.run(tf.io.encode_png(pixels)))
  # 3 steps make an unsure network: --min_confidence=0 prints its guess.
  predicted = run_script('res_mnist_predict.py', '--model_dir=' + model_dir,
                         '--min_confidence=0', str(image))
  assert predicted.returncode == 0, predicted.stderr
  names = '|'.join(re.escape(n) for n in
                   input_data.DATASETS['fashion_mnist'].class_names)
  assert re.match(r'^%s: (%s)  \(((%s): [\d.]+%%(, )?){3}\)$'
                  % (re.escape(str(image)), names, names),
                  predicted.stdout.strip()), predicted.stdout
  again = run_script('res_mnist.py', '--data_dir=' + zoo_data,
                     '--model_dir=' + model_dir, '--max_steps=5', *SMALL)
  assert ('holds a lenet5, not a resnet (--net); give another --model_dir'
          in one_line_error(again))


def test_article_preset(zoo_data, tmp_path):
  model_dir = str(tmp_path / 'model')
  result = run_script('res_mnist.py', '--preset=article001', '--max_steps=2',
                      '--data_dir=' + zoo_data, '--model_dir=' + model_dir,
                      '--log_every=1', *SMALL[:2])
  assert result.returncode == 0, result.stderr
  with open(os.path.join(model_dir, 'model.json')) as f:
    info = json.load(f)
  assert info['net'] == 'bottleneck_resnet'
  assert info['net_options'] == {'stray_bias': False, 'canonical': False,
                                 'he_init': False}
  recipe = info['recipe']
  assert (recipe['batch_size'], recipe['learning_rate'],
          recipe['lr_schedule']) == (10, 0.001, 'constant')


def test_article002_preset_trains_on_every_image(zoo_data, tmp_path):
  """Its epoch is the article's (no validation split), batch norm recomputed."""
  model_dir = str(tmp_path / 'model')
  result = run_script('res_mnist.py', '--preset=article002', '--epochs=0.2',
                      '--precise_batch_norm=2', '--data_dir=' + zoo_data,
                      '--model_dir=' + model_dir, '--nocheck_sha256')
  assert result.returncode == 0, result.stderr
  # 0.2 of all 200 training images at batch 32: 2 steps (1.25 rounded up).
  assert 'trained steps 1-2 in' in result.stdout
  assert ("batch norm's moving averages recomputed over 2 training batches "
          'with the weights of step 2' in result.stdout)
  assert 'validation accuracy' not in result.stdout
  assert re.search(r'^test accuracy \S+$', result.stdout, re.M)
  with open(os.path.join(model_dir, 'model.json')) as f:
    recipe = json.load(f)['recipe']
  assert (recipe['net'], recipe['dataset'], recipe['batch_size'],
          recipe['max_steps'], recipe['precise_batch_norm']) == (
              'resnet18', 'fashion_mnist', 32, 2, 2)
  selecting = run_script('res_mnist.py', '--preset=article002',
                         '--eval_every=10', '--model_dir=%s' % tmp_path)
  assert ('--eval_every needs a validation split, and --validation_size is '
          '0' in one_line_error(selecting))


def test_bad_zoo_flags(tmp_path):
  for args, message in (
      (['--net=lenet5', '--batch_norm'],
       '--batch_norm is not an option of --net=lenet5'),
      (['--net=resnet18', '--towers=2'],
       '--towers=2 does not go with --net=resnet18, which has batch norm'),
      (['--stray_bias'], '--stray_bias is not an option of --net=resnet')):
    result = run_script('res_mnist.py', '--model_dir=%s' % tmp_path, *args)
    assert message in one_line_error(result)


@pytest.mark.skipif(not os.path.exists(os.path.join(
    FASHION_DIR, input_data.TRAIN_IMAGES)), reason='Fashion-MNIST is not in '
    'Fashion_MNIST_data/ (.ci/run copies it there)')
def test_fashion_mnist_is_read_with_its_checksums():
  data = input_data.read_data_sets(
      FASHION_DIR, validation_size=5000,
      sha256=input_data.FASHION_MNIST_SHA256)
  assert (data.train.num_examples, data.validation.num_examples,
          data.test.num_examples) == (55000, 5000, 10000)
  # Balanced: 1,000 test images of each kind of clothing.
  assert np.bincount(data.test.labels.argmax(1)).tolist() == [1000] * 10
  with pytest.raises(input_data.DataError, match='SHA-256'):
    input_data.read_data_sets(FASHION_DIR, sha256=input_data.MNIST_SHA256)
