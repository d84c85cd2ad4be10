"""Cheap checks of the companion articles' networks in nets/.

Each network (and each variant with its own graph) is built once, in its
arg scope, into one graph: a training and an evaluation copy that share the
variables, and the checks below run on it. The whole file takes ~20 s on
two cores.
"""
import collections

import numpy as np
import pytest

from conftest import slim, tf
from nets.bottleneck_resnet import (bottleneck_resnet,
                                    bottleneck_resnet_arg_scope)
from nets.deep_mnist import deep_mnist, deep_mnist_arg_scope
from nets.lenet5 import lenet5, lenet5_arg_scope
from nets.sprint_cnn import sprint_cnn, sprint_cnn_arg_scope
from nets.wide_resnet import wide_resnet, wide_resnet_arg_scope

Case = collections.namedtuple('Case',
                              'net arg_scope options params scopes steps')

_UNIT_CONVS = ('conv1', 'conv2', 'conv3')
_BOTTLENECK_SCOPES = (
    ['conv1', 'fc1', 'fc2', 'res2a/shortcut']
    + ['%s/%s' % (unit, conv) for unit in ('res2a', 'res2b', 'res2c')
       for conv in _UNIT_CONVS])
_BATCH_NORMED = (
    ['conv1', 'res2a/shortcut']
    + ['%s/%s' % (unit, conv) for unit in ('res2a', 'res2b', 'res2c')
       for conv in _UNIT_CONVS])

# The trainable parameter counts of docs/zoo.md, the variable scopes below
# each network's own scope, and the Adam steps that must lower the loss. The
# article's bottleneck nets get 20: their logits start tens of units apart,
# and Adam's first steps (each weight moves by about the learning rate)
# raise the loss before it falls.
CASES = {
    'bottleneck_resnet': Case(
        bottleneck_resnet, bottleneck_resnet_arg_scope, {}, 13070794,
        _BOTTLENECK_SCOPES, 20),
    'bottleneck_resnet_stray_bias': Case(
        bottleneck_resnet, bottleneck_resnet_arg_scope, {'stray_bias': True},
        13071562, _BOTTLENECK_SCOPES + ['res2a', 'res2b', 'res2c'], 20),
    'bottleneck_resnet_canonical': Case(
        bottleneck_resnet, bottleneck_resnet_arg_scope, {'canonical': True},
        13072522,
        _BOTTLENECK_SCOPES + [s + '/BatchNorm' for s in _BATCH_NORMED], 10),
    'deep_mnist': Case(
        deep_mnist, deep_mnist_arg_scope, {}, 3274634,
        ['conv1', 'conv2', 'fc3', 'fc4'], 10),
    'lenet5': Case(
        lenet5, lenet5_arg_scope, {}, 61706,
        ['conv1', 'conv3', 'fc5', 'fc6', 'fc7'], 10),
    'lenet5_classic': Case(
        lenet5, lenet5_arg_scope, {'classic': True}, 61706,
        ['conv1', 'conv3', 'fc5', 'fc6', 'fc7'], 10),
}

BATCH = 16
RNG = np.random.RandomState(0)
IMAGES = RNG.uniform(size=(BATCH, 28, 28, 1)).astype(np.float32)
LABELS = np.arange(BATCH) % 10


class Built(object):
  """One network's graph: placeholders, logits, train op, an open session."""

  def __init__(self, case):
    self.case = case
    self.graph = tf.Graph()
    with self.graph.as_default():
      tf.set_random_seed(1)
      self.images = tf.placeholder(tf.float32, [None, 28, 28, 1])
      self.labels = tf.placeholder(tf.int64, [None])
      with slim.arg_scope(case.arg_scope()):
        self.train_logits, self.end_points = case.net(
            self.images, is_training=True, **case.options)
        self.variables = tf.trainable_variables()
        self.scope = self.variables[0].op.name.split('/')[0]
        with tf.variable_scope(tf.get_variable_scope(), reuse=True):
          self.eval_logits, _ = case.net(self.images, **case.options)
          # The training-mode function without dropout's noise: batch norm
          # normalises with the batch's own statistics, as in the steps.
          probe_logits, _ = case.net(self.images, is_training=True,
                                     dropout_keep_prob=1.0, **case.options)
      self.probe_loss = tf.losses.sparse_softmax_cross_entropy(
          self.labels, probe_logits)
      train_loss = tf.losses.sparse_softmax_cross_entropy(
          self.labels, self.train_logits)
      self.train_op = tf.train.AdamOptimizer(1e-3).minimize(train_loss)
      init = tf.global_variables_initializer()
    self.sess = tf.Session(graph=self.graph)
    self.sess.run(init)

  def run(self, fetch, images=IMAGES):
    return self.sess.run(fetch, {self.images: images, self.labels: LABELS})


@pytest.fixture(scope='module', params=sorted(CASES))
def built(request):
  net = Built(CASES[request.param])
  yield net
  net.sess.close()


@pytest.mark.parametrize('batch', [1, 7])
def test_logits_shape(built, batch):
  assert built.eval_logits.shape.as_list() == [None, 10]
  assert built.train_logits.shape.as_list() == [None, 10]
  assert built.end_points['Logits'] is built.train_logits
  assert built.run(built.eval_logits, IMAGES[:batch]).shape == (batch, 10)
  assert built.run(built.train_logits, IMAGES[:batch]).shape == (batch, 10)


def test_parameter_count(built):
  count = sum(v.shape.num_elements() for v in built.variables)
  assert count == built.case.params
  # The evaluation graph found the training graph's variables.
  with built.graph.as_default():
    assert tf.trainable_variables() == built.variables


def test_variable_scopes(built):
  scopes = {v.op.name[len(built.scope) + 1:].rsplit('/', 1)[0]
            for v in built.variables}
  assert sorted(scopes) == sorted(built.case.scopes)
  names = [v.op.name for v in built.variables]
  # The projection has no bias; with batch norm no conv has one.
  assert not [n for n in names if n.endswith('shortcut/biases')]
  if built.case.options.get('canonical'):
    assert not [n for n in names if '/res2' in n and n.endswith('/biases')]


def test_bottleneck_tensor_counts():
  """25 trainable tensors, as the article's graph has, 28 with the stray
  bias."""
  for options, expected in (({}, 25), ({'stray_bias': True}, 28)):
    with tf.Graph().as_default():
      bottleneck_resnet(tf.zeros([1, 28, 28, 1]), **options)
      assert len(tf.trainable_variables()) == expected


@pytest.mark.parametrize('canonical', [False, True])
def test_relu_before_add(canonical):
  """The article's units put a ReLU on conv3 before the sum; canonical not."""
  with tf.Graph().as_default():
    bottleneck_resnet(tf.zeros([1, 28, 28, 1]), canonical=canonical)
    ops = {op.name for op in tf.get_default_graph().get_operations()}
  for unit in ('res2a', 'res2b', 'res2c'):
    assert ('BottleneckResNet/%s/conv3/Relu' % unit in ops) != canonical
    assert 'BottleneckResNet/%s/Relu' % unit in ops


@pytest.mark.parametrize('options', [{}, {'stray_bias': True},
                                     {'canonical': True}])
def test_he_init(options):
  """he_init: He-scaled weights and zero biases, the head too; same variables."""
  def initial_values(he_init):
    with tf.Graph().as_default():
      tf.set_random_seed(1)
      with slim.arg_scope(bottleneck_resnet_arg_scope()):
        bottleneck_resnet(tf.zeros([1, 28, 28, 1]), he_init=he_init, **options)
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return {v.op.name.split('/', 1)[1]: value for v, value in
                zip(tf.global_variables(), sess.run(tf.global_variables()))}

  article, he = initial_values(False), initial_values(True)
  assert sorted(article) == sorted(he)
  assert {n: v.shape for n, v in article.items()} == {
      n: v.shape for n, v in he.items()}
  for name in ('fc1', 'fc2', 'conv1', 'res2b/conv2'):
    weights = he[name + '/weights']
    fan_in = np.prod(weights.shape[:-1])
    # slim's truncated normal has about the full normal's std, sqrt(2/fan_in).
    assert np.std(weights) == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.1)
    if name.startswith('fc') or not options.get('canonical'):  # else He too
      assert np.std(article[name + '/weights']) == pytest.approx(0.088,
                                                                 rel=0.1)
  assert not he['fc1/biases'].any() and not he['fc2/biases'].any()
  assert np.all(article['fc1/biases'] == np.float32(0.1))
  if options.get('stray_bias'):
    assert np.all(he['res2a/stray_bias'] == np.float32(0.1))


@pytest.mark.parametrize('classic,ops', [(False, {'Relu', 'MaxPool'}),
                                         (True, {'Tanh', 'AvgPool'})])
def test_lenet5_classic_look(classic, ops):
  with tf.Graph().as_default():
    lenet5(tf.zeros([1, 28, 28, 1]), classic=classic)
    types = {op.type for op in tf.get_default_graph().get_operations()}
  assert ops <= types
  assert not {'Relu', 'MaxPool', 'Tanh', 'AvgPool'} - ops & types


def test_dropout_only_when_training(built):
  first, second = built.run(built.eval_logits), built.run(built.eval_logits)
  np.testing.assert_array_equal(first, second)
  first, second = built.run(built.train_logits), built.run(built.train_logits)
  assert not np.allclose(first, second)


@pytest.mark.slow
def test_adam_lowers_loss(built):
  before = built.run(built.probe_loss)
  for _ in range(built.case.steps):
    built.run(built.train_op)
  after = built.run(built.probe_loss)
  assert np.isfinite(after)
  assert after < before


def test_sprint_cnn_shapes_and_batch_norm():
  """No dropout (the cases above test it), so its own test: the shapes,
  44,986 parameters, and batch norm's moving averages move only in
  training."""
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [None, 28, 28, 1])
    with slim.arg_scope(sprint_cnn_arg_scope()):
      train_logits, end_points = sprint_cnn(images, is_training=True)
      with tf.variable_scope(tf.get_variable_scope(), reuse=True):
        eval_logits, _ = sprint_cnn(images)
    assert [end_points[n].shape.as_list()[1:] for n in (
        'pool1', 'pool2', 'pool3')] == [[7, 7, 32], [4, 4, 48], [2, 2, 64]]
    assert sum(v.shape.num_elements() for v in tf.trainable_variables()) == (
        44986)
    assert not [v for v in tf.trainable_variables()
                if v.op.name.endswith('/biases') and 'logits' not in v.op.name]
    mean = [v for v in tf.global_variables()
            if v.op.name == 'SprintCNN/conv1/BatchNorm/moving_mean'][0]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      for logits, moves in ((eval_logits, False), (train_logits, True)):
        before = sess.run(mean)
        for batch in (1, 7):
          assert sess.run(logits, {images: IMAGES[:batch]}).shape == (batch, 10)
        assert (not np.array_equal(before, sess.run(mean))) == moves


def test_wide_resnet_shapes_shortcuts_and_learning():
  """The shapes, 1,208,938 parameters, a 1x1 projection where a block's
  shape changes, and Adam steps lower the loss."""
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    images = tf.placeholder(tf.float32, [None, 28, 28, 1])
    with slim.arg_scope(wide_resnet_arg_scope()):
      logits, end_points = wide_resnet(images, is_training=True)
    assert [end_points[n].shape.as_list()[1:] for n in (
        'pool', 'block1', 'block2', 'block3')] == [
            [14, 14, 32], [14, 14, 64], [7, 7, 128], [4, 4, 256]]
    assert sum(v.shape.num_elements() for v in tf.trainable_variables()) == (
        1208938)
    names = {v.op.name for v in tf.trainable_variables()}
    assert {'WideResNet/block%d/shortcut/weights' % i for i in (1, 2, 3)} <= (
        names)
    labels = tf.constant(np.arange(8) % 10)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = tf.train.AdamOptimizer(0.01).minimize(loss)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      feed = {images: IMAGES[:8]}
      before = sess.run(loss, feed)
      for _ in range(5):
        sess.run(train_op, feed)
      assert sess.run(loss, feed) < before
