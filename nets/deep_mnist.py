"""The CNN that companion article 003's "AlexNet" code actually runs.

The article's text describes ImageNet AlexNet (224x224x3, 11x11/4 convs,
60 M parameters), but its code is TensorFlow's "Deep MNIST for experts"
network, layer for layer tf-slim's `lenet` (tensorflow/models
research/slim/nets/lenet.py): this module builds that code, not AlexNet.
The canonical AlexNet needs 224x224 input and does not build on 28x28.

    from nets import deep_mnist
    with slim.arg_scope(deep_mnist.deep_mnist_arg_scope()):
      logits, end_points = deep_mnist.deep_mnist(images, is_training=True)

conv 5x5 32 -> max pool 2x2/2 -> conv 5x5 64 -> max pool 2x2/2 -> flatten
3,136 -> fc 1024 ReLU -> dropout -> fc logits: 3,274,634 trainable
parameters. The article trains it with Adam 1e-4, batch 100, 10,000 steps,
dropout keep 0.5; the TF tutorial reports ~99.2% on MNIST.
"""
import collections

from resmnist import slim  # tf-slim on today's TensorFlow: see resmnist/__init__.py
import tensorflow.compat.v1 as tf


def deep_mnist(images, num_classes=10, is_training=False,
               *, dropout_keep_prob=0.5, scope='DeepMNIST'):
  """Builds the Deep-MNIST CNN (article 003's "AlexNet" code) and its logits.

  Layer names and end points are those of tf-slim's `lenet`. Every padding
  is SAME, as the article's code: 28 -> 14 -> 7.

  Build it under `deep_mnist_arg_scope()` for the article's initialisers;
  without it slim's defaults (Xavier, zero biases) apply.

  Args:
    images: float32 `[batch, 28, 28, 1]`, pixels in [0, 1].
    num_classes: number of logits.
    is_training: Python bool or scalar bool tensor; True turns dropout on.
    dropout_keep_prob: share of fc3's outputs kept while training.
    scope: variable scope of the network.

  Returns:
    logits: float32 `[batch, num_classes]`, no softmax (the article's code
      ends in one; the loss here takes logits).
    end_points: OrderedDict from layer name to its output tensor.
  """
  end_points = collections.OrderedDict()
  with tf.variable_scope(scope, 'DeepMNIST', [images]), \
      slim.arg_scope([slim.batch_norm, slim.dropout],
                     is_training=is_training), \
      slim.arg_scope([slim.conv2d, slim.fully_connected],
                     activation_fn=tf.nn.relu), \
      slim.arg_scope([slim.conv2d, slim.max_pool2d], padding='SAME'):
    net = end_points['conv1'] = slim.conv2d(images, 32, [5, 5], scope='conv1')
    net = end_points['pool1'] = slim.max_pool2d(net, [2, 2], 2, scope='pool1')
    net = end_points['conv2'] = slim.conv2d(net, 64, [5, 5], scope='conv2')
    net = end_points['pool2'] = slim.max_pool2d(net, [2, 2], 2, scope='pool2')
    net = end_points['Flatten'] = slim.flatten(net, scope='flatten')
    net = end_points['fc3'] = slim.fully_connected(net, 1024, scope='fc3')
    net = end_points['dropout3'] = slim.dropout(net, dropout_keep_prob,
                                                scope='dropout3')
    logits = end_points['Logits'] = slim.fully_connected(
        net, num_classes, activation_fn=None, scope='fc4')
  return logits, end_points



def deep_mnist_arg_scope(weight_decay=0.0):
  """The article's initialisers, and L2 weight decay if asked for.

  Weights `truncated_normal(stddev=0.1)`; conv biases 0.0 and fully
  connected biases 0.1, as the article's code (the TF tutorial puts 0.1
  everywhere; slim's `lenet_arg_scope` leaves every bias at zero).

  Args:
    weight_decay: if > 0, adds `weight_decay * sum(w ** 2) / 2` of every
      conv and fully connected weight matrix to
      `tf.GraphKeys.REGULARIZATION_LOSSES` (biases are not decayed).

  Returns:
    An arg scope for `slim.conv2d` and `slim.fully_connected`.
  """
  regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
  with slim.arg_scope(
      [slim.conv2d, slim.fully_connected],
      weights_regularizer=regularizer,
      weights_initializer=tf.truncated_normal_initializer(stddev=0.1)), \
      slim.arg_scope([slim.conv2d],
                     biases_initializer=tf.zeros_initializer()), \
      slim.arg_scope([slim.fully_connected],
                     biases_initializer=tf.constant_initializer(0.1)) as sc:
    return sc
