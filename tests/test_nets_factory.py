"""nets_factory: one entry per network holds all the package needs, and a
new network is one file and one entry away from every script."""
import os
import re
import shutil

import numpy as np
import pytest

from conftest import SMALL, run_script, tf, write_dataset
from nets import models
from nets import nets_factory
from resmnist.recipe import Recipe

TINY_NET = '''"""A tiny network, to show how one is added: this file and one entry."""
from resmnist import slim
import tensorflow.compat.v1 as tf


def tiny(images, num_classes=10, is_training=False, scope='Tiny'):
  with tf.variable_scope(scope, 'Tiny', [images]):
    net = slim.conv2d(images, 8, [3, 3], stride=2, scope='conv1')
    net = slim.flatten(net)
    logits = slim.fully_connected(net, num_classes, activation_fn=None,
                                  scope='logits')
  return logits, {'Logits': logits}


def tiny_arg_scope(weight_decay=0.0):
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      weights_regularizer=slim.l2_regularizer(weight_decay)
                      if weight_decay else None) as scope:
    return scope
'''
TINY_ENTRY = "    'tiny': _network(tiny.tiny, tiny.tiny_arg_scope),\n"


def test_every_entry_is_complete():
  for name, entry in nets_factory.NETWORKS.items():
    assert callable(entry.fn) and callable(entry.arg_scope), name
    assert entry.image_size == 28 and 0 < entry.batch_norm_decay < 1, name
    assert (entry.batch_norm in (True, False)
            or entry.batch_norm in entry.options.values()), name
  assert {n for n, e in nets_factory.NETWORKS.items()
          if not e.towers_help} == {'bottleneck_resnet', 'vgg16'}


def test_model_info_says_what_the_network_is():
  info = models.describe(Recipe(net='vgg16', batch_norm=True))
  assert (info.net, info.net_options, info.batch_norm) == (
      'vgg16', {'batch_norm': True}, True)
  assert info.recipe['batch_norm'] and info.dataset == 'mnist'
  assert models.describe(Recipe(net='resnet18')).batch_norm
  assert not models.describe(Recipe(net='lenet5')).batch_norm


def test_the_training_network_is_in_towers():
  network_fn = models.training_network_fn(Recipe(net='lenet5', towers=2))
  with tf.Graph().as_default() as graph:
    logits, end_points = network_fn(tf.zeros([5, 784]))
    assert logits.shape.as_list() == [5, 10] and 'Logits' in end_points
    assert {'tower_0', 'tower_1'} <= {op.name.split('/')[0]
                                      for op in graph.get_operations()}


def _sprint_cnn_step(images, towers):
  """Logits and conv1's moving mean after one training step of sprint_cnn
  in `towers` towers, from the weights of graph seed 1."""
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    logits, _ = nets_factory.get_network_fn(
        'sprint_cnn', is_training=True, towers=towers)(tf.constant(images))
    mean = [v for v in tf.global_variables()
            if v.op.name == 'SprintCNN/conv1/BatchNorm/moving_mean'][0]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return sess.run(logits), sess.run(mean)


def test_ghost_batch_norm_in_towers():
  """sprint_cnn in two towers: each normalises by its own half of the
  batch, and the moving averages move once, by the first half's
  statistics, as one tower of that half alone moves them."""
  assert nets_factory.network('sprint_cnn').ghost_batch_norm
  halves = np.random.RandomState(0).rand(2, 4, 784).astype(np.float32)
  halves[1] *= 0.5  # the second half's statistics differ
  logits, mean = _sprint_cnn_step(np.concatenate(halves), towers=2)
  first, first_mean = _sprint_cnn_step(halves[0], towers=1)
  second, _ = _sprint_cnn_step(halves[1], towers=1)
  np.testing.assert_allclose(logits, np.concatenate([first, second]),
                             rtol=1e-4, atol=1e-4)
  assert np.abs(first_mean).max() > 0
  np.testing.assert_allclose(mean, first_mean, rtol=1e-5, atol=1e-6)


def _copy_of_the_project(root, destination):
  ignore = shutil.ignore_patterns('MNIST_data', 'Fashion_MNIST_data', 'model',
                                  'export', '.git', '__pycache__', '*.pyc',
                                  'docs', 'tests', '.pytest_cache')
  shutil.copytree(root, destination, ignore=ignore)


def _run(project, script, *args):
  # Forked: the copy's script and nets/ (first on its sys.path); resmnist's
  # start-up modules are the project's, which the copy's equal.
  result = run_script(os.path.join(project, script), *args, cwd=project)
  assert result.returncode == 0, (script, result.stderr[-3000:])
  return result.stdout


@pytest.mark.slow
def test_a_new_network_is_one_file_and_one_entry(tmp_path):
  from conftest import ROOT
  project = str(tmp_path / 'project')
  _copy_of_the_project(ROOT, project)
  with open(os.path.join(project, 'nets', 'tiny.py'), 'w') as f:
    f.write(TINY_NET)
  factory = os.path.join(project, 'nets', 'nets_factory.py')
  with open(factory) as f:
    text = f.read()
  text = text.replace('from nets import vgg16\n',
                      'from nets import tiny\nfrom nets import vgg16\n', 1)
  text = text.replace('NETWORKS = {\n', 'NETWORKS = {\n' + TINY_ENTRY, 1)
  with open(factory, 'w') as f:
    f.write(text)
  data = write_dataset(str(tmp_path / 'data'))
  model = str(tmp_path / 'model')
  trained = _run(project, 'res_mnist.py', '--net=tiny', '--data_dir=' + data,
                 '--model_dir=' + model, '--max_steps=10', *SMALL)
  assert 'test accuracy' in trained
  evaluated = _run(project, 'res_mnist_eval.py', '--model_dir=' + model,
                   '--data_dir=' + data, '--nocheck_sha256', '--net=tiny')
  assert re.search(r'^test accuracy [01]\.\d{4}$', evaluated, re.M)
  digit = np.zeros((28, 28, 1), np.uint8)
  digit[4:24, 12:16] = 255  # a 1, light on dark
  with tf.Graph().as_default(), tf.Session() as sess:
    png = sess.run(tf.io.encode_png(tf.constant(digit)))
  with open(str(tmp_path / 'one.png'), 'wb') as f:
    f.write(png)
  predicted = _run(project, 'res_mnist_predict.py', '--model_dir=' + model,
                   str(tmp_path / 'one.png'))
  assert re.match(r'.*one\.png: [0-9?]', predicted)
  exported = _run(project, 'res_mnist_export.py', '--model_dir=' + model,
                  '--export_dir=' + str(tmp_path / 'export'))
  assert 'Exported' in exported
  assert os.listdir(str(tmp_path / 'export')) == ['10']


@pytest.mark.parametrize('name', sorted(nets_factory.NETWORKS))
def test_flat_and_square_images_give_the_same_logits(name):
  network_fn = nets_factory.get_network_fn(name, num_classes=10)
  images = np.random.RandomState(0).rand(2, 784).astype(np.float32)
  with tf.Graph().as_default():
    flat = tf.placeholder(tf.float32, [None, 784])
    square = tf.placeholder(tf.float32, [None, 28, 28, 1])
    from_flat, _ = network_fn(flat)
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
      from_square, _ = network_fn(square)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      a, b = sess.run([from_flat, from_square],
                      {flat: images, square: images.reshape(-1, 28, 28, 1)})
  assert a.shape == (2, 10)
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_factory_errors():
  with pytest.raises(ValueError, match="unknown network 'alexnet'"):
    nets_factory.get_network_fn('alexnet', 10)
  with pytest.raises(ValueError, match='--batch_norm is not an option of '
                     '--net=lenet5'):
    models.network_options(Recipe(net='lenet5', batch_norm=True))
  options = models.network_options(Recipe(net='bottleneck_resnet',
                                          stray_bias=True))
  assert options == {'stray_bias': True, 'canonical': False,
                     'he_init': False}
  assert not models.has_batch_norm('bottleneck_resnet', options)
  canonical = models.network_options(Recipe(
      net='bottleneck_resnet', canonical_bottleneck=True))
  assert models.has_batch_norm('bottleneck_resnet', canonical)
  with pytest.raises(ValueError, match='--canonical_bottleneck is not an '
                     'option of --net=deep_mnist'):
    models.network_options(Recipe(net='deep_mnist',
                                  canonical_bottleneck=True))
  # Every option a network has is a Recipe field, and nothing else is one.
  assert models.OPTION_FIELDS == ['batch_norm', 'canonical_bottleneck',
                                  'he_init', 'stray_bias']
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='784 pixels'):
      nets_factory.get_network_fn('vgg16', 10)(tf.zeros([2, 32, 32, 1]))
