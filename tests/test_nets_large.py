"""Shape, size and behaviour checks of nets/resnet18.py, vgg16.py, inception.py.

Cheap on purpose (a few forward passes and eight training steps of batch 8
per network): they pin each graph so that a refactor cannot silently change
it, and show that is_training, batch norm, the L2 term and Adam are wired.
"""
import numpy as np
import pytest

from conftest import slim, tf
from nets import inception, nets_factory, resnet18, vgg16

NETS = {
    'resnet18': (resnet18.resnet18, resnet18.resnet18_arg_scope),
    'vgg16': (vgg16.vgg16, vgg16.vgg16_arg_scope),
    'inception': (inception.inception, inception.inception_arg_scope),
}
# The layouts of the networks' docstrings and docs/zoo.md (10 classes).
TRAINABLE_PARAMETERS = {
    'resnet18': 11172810,
    'vgg16': 15243978,
    'inception': 1045162,
}
# Per-image shapes of end points, for 28x28x1 input.
END_POINT_SHAPES = {
    'resnet18': {'conv1': [28, 28, 64], 'block1/unit_2': [28, 28, 64],
                 'block2/unit_1': [14, 14, 128], 'block3/unit_1': [7, 7, 256],
                 'block4/unit_2': [4, 4, 512], 'global_pool': [512],
                 'Logits': [10]},
    'vgg16': {'padded': [32, 32, 1], 'conv1': [32, 32, 64],
              'pool1': [16, 16, 64], 'pool2': [8, 8, 128],
              'pool3': [4, 4, 256], 'pool4': [2, 2, 512],
              'pool5': [1, 1, 512], 'fc6': [512], 'fc7': [512],
              'Logits': [10]},
    'inception': {'Conv2d_1a_3x3': [28, 28, 64], 'MaxPool_1b_2x2': [14, 14, 64],
                  'Conv2d_2a_3x3': [14, 14, 192], 'Mixed_3a': [14, 14, 256],
                  'Mixed_3b': [14, 14, 480], 'MaxPool_3c_2x2': [7, 7, 480],
                  'Mixed_4a': [7, 7, 512], 'global_pool': [512],
                  'Logits': [10]},
}


def _build(name, images, **kwargs):
  """`name`'s logits and end points, built under its own arg scope."""
  net_fn, arg_scope_fn = NETS[name]
  with slim.arg_scope(arg_scope_fn()):
    return net_fn(images, **kwargs)


def _size(variables):
  return sum(v.shape.num_elements() for v in variables)


def _images(batch, seed=0):
  return np.random.RandomState(seed).rand(batch, 28, 28, 1).astype(np.float32)


@pytest.mark.parametrize('name', sorted(NETS))
def test_logits_end_points_and_size(name):
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [None, 28, 28, 1])
    logits, end_points = _build(name, images)
    assert logits.shape.as_list() == [None, 10]
    assert end_points['Logits'] is logits
    shapes = {k: end_points[k].shape.as_list()[1:]
              for k in END_POINT_SHAPES[name]}
    assert shapes == END_POINT_SHAPES[name]
    assert _size(tf.trainable_variables()) == TRAINABLE_PARAMETERS[name]
    assert nets_factory.network(name).image_size == 28
    # Logits only: no softmax in the graph.
    assert not [op for op in tf.get_default_graph().get_operations()
                if op.type == 'Softmax']
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      for batch in (1, 7):
        value = sess.run(logits, {images: _images(batch)})
        assert value.shape == (batch, 10)
        assert np.all(np.isfinite(value))


def test_variable_names():
  """Scopes as in tf-slim's vgg_16 and inception_v1; Keras's creation order."""
  with tf.Graph().as_default():
    images = tf.zeros([1, 28, 28, 1])
    for name in NETS:
      _build(name, images)
    names = [v.op.name for v in tf.trainable_variables()]
  vgg_convs = [n[len('vgg16/'):-len('/weights')] for n in names
               if n.startswith('vgg16/conv') and n.endswith('/weights')]
  assert vgg_convs == ['conv1/conv1_1', 'conv1/conv1_2', 'conv2/conv2_1',
                       'conv2/conv2_2', 'conv3/conv3_1', 'conv3/conv3_2',
                       'conv3/conv3_3', 'conv4/conv4_1', 'conv4/conv4_2',
                       'conv4/conv4_3', 'conv5/conv5_1', 'conv5/conv5_2',
                       'conv5/conv5_3']
  assert [n for n in names if n.startswith('vgg16/fc')] == [
      'vgg16/fc6/weights', 'vgg16/fc6/biases',
      'vgg16/fc7/weights', 'vgg16/fc7/biases',
      'vgg16/fc8/weights', 'vgg16/fc8/biases']
  mixed_3a = [n for n in names if n.startswith('Inception/Mixed_3a/')]
  assert mixed_3a == [
      'Inception/Mixed_3a/Branch_%s/%s' % suffix for suffix in (
          ('0', 'Conv2d_0a_1x1/weights'), ('0', 'Conv2d_0a_1x1/biases'),
          ('1', 'Conv2d_0a_1x1/weights'), ('1', 'Conv2d_0a_1x1/biases'),
          ('1', 'Conv2d_0b_3x3/weights'), ('1', 'Conv2d_0b_3x3/biases'),
          ('2', 'Conv2d_0a_1x1/weights'), ('2', 'Conv2d_0a_1x1/biases'),
          ('2', 'Conv2d_0b_5x5/weights'), ('2', 'Conv2d_0b_5x5/biases'),
          ('3', 'Conv2d_0b_1x1/weights'), ('3', 'Conv2d_0b_1x1/biases'))]
  unit = [n for n in names if n.startswith('resnet18/block2/unit_1/')]
  assert unit == ['resnet18/block2/unit_1/%s' % n for n in (
      'conv1/weights', 'conv1/BatchNorm/beta', 'conv1/BatchNorm/gamma',
      'conv2/weights', 'conv2/BatchNorm/beta', 'conv2/BatchNorm/gamma',
      'shortcut/weights', 'shortcut/BatchNorm/beta',
      'shortcut/BatchNorm/gamma')]
  assert 'resnet18/block2/unit_2/shortcut/weights' not in names


def test_resnet18_batch_norm_statistics():
  """9,600 moving averages; training updates them, evaluation uses them."""
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    images = tf.placeholder(tf.float32, [None, 28, 28, 1])
    train_logits, _ = _build('resnet18', images, is_training=True)
    eval_logits, _ = _build('resnet18', images, reuse=True)
    moving = [v for v in tf.global_variables() if 'moving_' in v.op.name]
    assert _size(moving) == 9600
    assert _size(tf.global_variables()) == 11172810 + 9600
    # updates_collections=None: updated in place, nothing left to run.
    assert not tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    labels = tf.constant(np.arange(4) % 10)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, train_logits)
    train_op = tf.train.AdamOptimizer(1e-3).minimize(loss)
    batch = _images(4)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      before = sess.run(moving)
      first, second = sess.run(eval_logits, {images: batch}), sess.run(
          eval_logits, {images: batch})
      alone = sess.run(eval_logits, {images: batch[:1]})
      assert all(np.array_equal(a, b) for a, b in zip(before, sess.run(moving)))
      sess.run(train_op, {images: batch})
      after = sess.run(moving)
  np.testing.assert_array_equal(first, second)
  # Eval normalises with the moving averages: an image's logits do not
  # depend on the rest of the batch.
  np.testing.assert_allclose(alone, first[:1], rtol=1e-4, atol=1e-5)
  assert all(not np.allclose(a, b) for a, b in zip(before, after))


def test_resnet18_dense_l2_is_keras_l2():
  with tf.Graph().as_default():
    logits, _ = _build('resnet18', tf.zeros([1, 28, 28, 1]))
    losses = tf.losses.get_regularization_losses()
    assert len(losses) == 1
    kernel = tf.get_default_graph().get_tensor_by_name(
        'resnet18/logits/weights:0')
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      value, w = sess.run([losses[0], kernel])
  assert value > 0
  np.testing.assert_allclose(value, 0.01 * np.sum(w.astype(np.float64) ** 2),
                             rtol=1e-5)
  with tf.Graph().as_default():
    _build('resnet18', tf.zeros([1, 28, 28, 1]), dense_l2=0)
    assert not tf.losses.get_regularization_losses()
  with tf.Graph().as_default(), slim.arg_scope(
      resnet18.resnet18_arg_scope(weight_decay=1e-4)):
    resnet18.resnet18(tf.zeros([1, 28, 28, 1]))
    # 20 convolutions and the dense layer.
    assert len(tf.losses.get_regularization_losses()) == 21


@pytest.mark.parametrize('name', ['vgg16', 'inception'])
def test_dropout_only_when_training(name):
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    images = tf.constant(_images(2))
    train_logits, _ = _build(name, images, is_training=True)
    eval_logits, _ = _build(name, images, reuse=True)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      train = [sess.run(train_logits) for _ in range(2)]
      evals = [sess.run(eval_logits) for _ in range(2)]
  np.testing.assert_array_equal(evals[0], evals[1])
  assert not np.allclose(train[0], train[1])


@pytest.mark.parametrize('name,moving', [('vgg16', 2 * 4224),
                                         ('inception', 2 * 1888)])
def test_batch_norm_option(name, moving):
  """Batch norm replaces each conv's bias by its beta: same trainable count."""
  with tf.Graph().as_default():
    images = tf.constant(_images(2))
    logits, _ = _build(name, images, is_training=True, batch_norm=True)
    names = [v.op.name for v in tf.trainable_variables()]
    assert _size(tf.trainable_variables()) == TRAINABLE_PARAMETERS[name]
    assert _size(tf.global_variables()) == TRAINABLE_PARAMETERS[name] + moving
    assert not [n for n in names if n.endswith('biases')
                and '/fc' not in n and not n.endswith('Logits/biases')]
    assert not tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      assert sess.run(logits).shape == (2, 10)


@pytest.mark.parametrize('name', sorted(NETS))
@pytest.mark.slow
def test_adam_steps_lower_the_loss(name):
  """Eight Adam steps on one fixed batch of 8 lower its cross-entropy.

  Measured without dropout (eval mode) for vgg16 and inception; resnet18 is
  measured in training mode, because its moving averages hardly move in
  eight steps. The margin is small for vgg16's sake: with Glorot weights and
  no batch norm its logits start near 0 and its loss falls slowly at first
  (2.3025 -> 2.2912 here; resnet18 2.70 -> 0.0004, inception 2.80 -> 2.08).
  """
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    images = tf.constant(_images(8, seed=1))
    labels = tf.constant(np.arange(8) % 10)
    train_logits, _ = _build(name, images, is_training=True)
    measured_logits, _ = _build(name, images, reuse=True,
                                is_training=name == 'resnet18')
    loss = tf.losses.sparse_softmax_cross_entropy(labels, train_logits)
    train_op = tf.train.AdamOptimizer(1e-3).minimize(
        loss + tf.losses.get_regularization_loss())
    measured = tf.losses.sparse_softmax_cross_entropy(labels, measured_logits)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      before = sess.run(measured)
      for _ in range(8):
        sess.run(train_op)
      after = sess.run(measured)
  assert np.isfinite(before) and after < before - 0.005, (before, after)
