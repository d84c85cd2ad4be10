"""Shape, name and behaviour checks of resnet.py and res_mnist_inference.py."""
import numpy as np
import pytest

from conftest import slim, tf
from res_mnist_inference import inference
from resnet import res_change, res_identity

# The original's trainable variables in creation order, with their shapes.
EXPECTED_VARIABLES = (
    [('Conv/weights', [3, 3, 1, 32]), ('Conv/biases', [32])]
    + [v for n in (2, 3, 4) for v in (
        ('layer_%d/Conv/weights' % n, [3, 3, 32, 32]),
        ('layer_%d/Conv/biases' % n, [32]),
        ('layer_%d/Conv_1/weights' % n, [3, 3, 32, 32]),
        ('layer_%d/Conv_1/biases' % n, [32]))]
    + [('layer_5/Conv/weights', [3, 3, 32, 64]), ('layer_5/Conv/biases', [64]),
       ('layer_5/Conv_1/weights', [1, 1, 32, 64]), ('layer_5/Conv_1/biases', [64]),
       ('layer_5/Conv_2/weights', [3, 3, 64, 64]), ('layer_5/Conv_2/biases', [64])]
    + [v for n in (6, 7) for v in (
        ('layer_%d/Conv/weights' % n, [3, 3, 64, 64]),
        ('layer_%d/Conv/biases' % n, [64]),
        ('layer_%d/Conv_1/weights' % n, [3, 3, 64, 64]),
        ('layer_%d/Conv_1/biases' % n, [64]))]
    + [('fc_1/weights', [3136, 200]), ('fc_1/biases', [200]),
       ('output_layer/weights', [200, 10]), ('output_layer/biases', [10])])


def _run(tensor, feed=None):
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    return sess.run(tensor, feed)


def test_res_identity_keeps_shape():
  with tf.Graph().as_default():
    out = res_identity(tf.zeros([2, 14, 14, 32]), 32, [3, 3], 'layer_2')
    assert out.shape.as_list() == [2, 14, 14, 32]
    assert [v.op.name for v in tf.trainable_variables()] == [
        'layer_2/Conv/weights', 'layer_2/Conv/biases',
        'layer_2/Conv_1/weights', 'layer_2/Conv_1/biases']


@pytest.mark.parametrize('size,expected', [(14, 7), (7, 4), (28, 14)])
def test_res_change_halves_and_deepens(size, expected):
  with tf.Graph().as_default():
    out = res_change(tf.zeros([3, size, size, 32]), 64, [3, 3], 'layer_5')
    assert out.shape.as_list() == [3, expected, expected, 64]
    assert _run(out).shape == (3, expected, expected, 64)


def test_res_identity_is_relu_of_sum():
  """With zero weights and biases both convs give 0, so the block is relu(x)."""
  with tf.Graph().as_default():
    x = tf.constant(np.random.RandomState(0).randn(1, 5, 5, 4), tf.float32)
    with slim.arg_scope([slim.conv2d], weights_initializer=tf.zeros_initializer()):
      out = res_identity(x, 4, [3, 3], 'block')
    value, x_value = _run([out, x])
    np.testing.assert_allclose(value, np.maximum(x_value, 0))


@pytest.mark.parametrize('batch', [1, 7, 100])
def test_logits_shape(batch):
  with tf.Graph().as_default():
    x = tf.placeholder(tf.float32, [None, 784])
    logits = inference(x)
    assert logits.shape.as_list() == [None, 10]
    value = _run(logits, {x: np.random.rand(batch, 784)})
    assert value.shape == (batch, 10)
    assert np.all(np.isfinite(value))


def test_accepts_4d_images_and_gives_same_logits():
  images = np.random.RandomState(0).rand(4, 784)
  results = []
  for shape in ([None, 784], [None, 28, 28, 1]):
    with tf.Graph().as_default():
      tf.set_random_seed(1)  # same seed, same op order: same weights
      x = tf.placeholder(tf.float32, shape)
      results.append(_run(inference(x), {x: images.reshape([-1] + shape[1:])}))
  np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-5)


def test_rejects_wrong_image_size():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='784 pixels'):
      inference(tf.zeros([2, 32, 32, 1]))


def test_variables_match_spec():
  with tf.Graph().as_default():
    inference(tf.placeholder(tf.float32, [None, 784]))
    variables = [(v.op.name, v.shape.as_list()) for v in tf.trainable_variables()]
    assert variables == EXPECTED_VARIABLES
    assert len(variables) == 32
    assert sum(np.prod(shape) for _, shape in variables) == 890466
    # Nothing but the 32 weights: no hidden state in the reference graph.
    assert len(tf.global_variables()) == 32


def test_inference_is_deterministic_unless_training():
  with tf.Graph().as_default():
    x = tf.placeholder(tf.float32, [None, 784])
    is_training = tf.placeholder_with_default(False, [])
    logits = inference(x, is_training=is_training)
    images = np.random.RandomState(0).rand(8, 784)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      first, second = (sess.run(logits, {x: images}) for _ in range(2))
      np.testing.assert_array_equal(first, second)
      train_a, train_b = (sess.run(logits, {x: images, is_training: True})
                          for _ in range(2))
      assert not np.allclose(train_a, train_b)  # dropout is on when training


def test_slim_compat_makes_batch_norm_work():
  """tf-slim 1.1.0's batch_norm fails on TF 2.21 without slim_compat."""
  with tf.Graph().as_default():
    x = tf.constant(np.random.RandomState(0).randn(16, 4, 4, 3) * 3 + 5,
                    tf.float32)
    is_training = tf.placeholder_with_default(True, [])
    out = slim.batch_norm(x, is_training=is_training, updates_collections=None)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      value = sess.run(out)
      np.testing.assert_allclose(value.mean(axis=(0, 1, 2)), 0, atol=1e-4)
      moving_mean = [v for v in tf.global_variables() if 'moving_mean' in v.name][0]
      assert np.all(sess.run(moving_mean) > 0)  # updated in place


def test_batch_norm_variant_variables():
  with tf.Graph().as_default():
    logits = inference(tf.placeholder(tf.float32, [None, 784]), batch_norm=True)
    assert logits.shape.as_list() == [None, 10]
    names = [v.op.name for v in tf.global_variables()]
    # 14 convolutions, each with beta, moving mean and variance; no conv bias.
    assert sum(n.endswith('BatchNorm/beta') for n in names) == 14
    assert sum(n.endswith('BatchNorm/moving_mean') for n in names) == 14
    assert not any(n.endswith('Conv/biases') for n in names)
    assert 'fc_1/biases' in names


def test_batch_norm_eval_uses_moving_averages():
  """In eval mode an image's logits do not depend on the rest of its batch."""
  with tf.Graph().as_default():
    x = tf.placeholder(tf.float32, [None, 784])
    logits = inference(x, batch_norm=True)
    moving_means = [v for v in tf.global_variables() if 'moving_mean' in v.name]
    images = np.random.RandomState(0).rand(6, 784)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      alone = sess.run(logits, {x: images[:1]})
      together = sess.run(logits, {x: images})[:1]
      np.testing.assert_allclose(alone, together, rtol=1e-5, atol=1e-5)
      sess.run([v.assign(v + 0.5) for v in moving_means])
      assert not np.allclose(sess.run(logits, {x: images[:1]}), alone)


def test_batch_norm_training_uses_batch_statistics():
  """In training mode the stem's batch norm centres each channel on the batch."""
  with tf.Graph().as_default():
    x = tf.placeholder(tf.float32, [None, 784])
    inference(x, is_training=True, batch_norm=True)
    normalized = tf.get_default_graph().get_tensor_by_name(
        'Conv/BatchNorm/FusedBatchNormV3:0')
    images = np.random.RandomState(0).rand(6, 784) * 5 + 3
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      value = sess.run(normalized, {x: images})
  np.testing.assert_allclose(value.mean(axis=(0, 1, 2)), 0, atol=1e-4)
  np.testing.assert_allclose(value.var(axis=(0, 1, 2)), 1, atol=0.05)
