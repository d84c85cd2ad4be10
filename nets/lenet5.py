"""LeNet-5 as companion article 003's text draws it, on MNIST.

The text: 32x32x1 -> C1 conv 5x5 6 -> 28x28x6 -> pool 2x2/2 -> 14x14x6 ->
C3 conv 5x5 16 -> 10x10x16 -> pool -> 5x5x16 -> FC 120 -> FC 84 -> 10.
MNIST's 28x28 digits are zero-padded to 32x32, as LeCun et al. (1998)
centred them in a 32x32 field (the article's code resizes instead). Layer
names follow the paper: conv1 (C1), pool2 (S2), conv3 (C3), pool4 (S4),
fc5 (C5), fc6 (F6), fc7 (output).

By default it makes the modern choices of the article's code: ReLU, max
pooling, dropout (keep 0.5 while training) after fc5 and fc6. `classic=True`
gives the 1998 paper's look: tanh and average pooling (without the paper's
trainable pooling coefficients, partial C3 table, scaled tanh or RBF
output).

    from nets import lenet5
    with slim.arg_scope(lenet5.lenet5_arg_scope()):
      logits, end_points = lenet5.lenet5(images, is_training=True)

61,706 trainable parameters (C3 fully connected; the paper's partial C3
table and fixed RBF output leave 60,000). The paper reports 0.95% test
error (99.05%).
"""
import collections

from resmnist import slim  # tf-slim on today's TensorFlow: see resmnist/__init__.py
import tensorflow.compat.v1 as tf


def lenet5(images, num_classes=10, is_training=False, *, dropout_keep_prob=0.5,
           scope='LeNet5', classic=False):
  """Builds LeNet-5 and returns its logits.

  Build it under `lenet5_arg_scope()` for the article's initialisers;
  without it slim's defaults (Xavier, zero biases) apply.

  Args:
    images: float32 `[batch, 28, 28, 1]`, pixels in [0, 1].
    num_classes: number of logits.
    is_training: Python bool or scalar bool tensor; True turns dropout on.
    dropout_keep_prob: share of fc5's and fc6's outputs kept while training.
    scope: variable scope of the network.
    classic: tanh and average pooling (the 1998 paper) instead of ReLU and
      max pooling (the article's code). The variables are the same.

  Returns:
    logits: float32 `[batch, num_classes]`, no softmax.
    end_points: OrderedDict from layer name to its output tensor.
  """
  end_points = collections.OrderedDict()
  activation_fn = tf.nn.tanh if classic else tf.nn.relu
  pool = slim.avg_pool2d if classic else slim.max_pool2d
  with tf.variable_scope(scope, 'LeNet5', [images]), \
      slim.arg_scope([slim.batch_norm, slim.dropout],
                     is_training=is_training), \
      slim.arg_scope([slim.conv2d, slim.fully_connected],
                     activation_fn=activation_fn), \
      slim.arg_scope([slim.conv2d, pool], padding='VALID'):
    # 2 px of background on each side: the paper's 32x32 input field, and
    # what makes the VALID 5x5 convs give the text's 28x28 and 10x10.
    net = end_points['pad'] = tf.pad(images, [[0, 0], [2, 2], [2, 2], [0, 0]])
    net = end_points['conv1'] = slim.conv2d(net, 6, [5, 5], scope='conv1')
    net = end_points['pool2'] = pool(net, [2, 2], 2, scope='pool2')
    net = end_points['conv3'] = slim.conv2d(net, 16, [5, 5], scope='conv3')
    net = end_points['pool4'] = pool(net, [2, 2], 2, scope='pool4')
    net = end_points['Flatten'] = slim.flatten(net, scope='flatten')
    net = end_points['fc5'] = slim.fully_connected(net, 120, scope='fc5')
    net = end_points['dropout5'] = slim.dropout(net, dropout_keep_prob,
                                                scope='dropout5')
    net = end_points['fc6'] = slim.fully_connected(net, 84, scope='fc6')
    net = end_points['dropout6'] = slim.dropout(net, dropout_keep_prob,
                                                scope='dropout6')
    logits = end_points['Logits'] = slim.fully_connected(
        net, num_classes, activation_fn=None, scope='fc7')
  return logits, end_points



def lenet5_arg_scope(weight_decay=0.0):
  """The article's initialisers, and L2 weight decay if asked for.

  Weights `truncated_normal(stddev=0.1)`, as the `weight_init` of the
  template the article's code comes from; biases zero (that code draws them
  from `random_normal`, stddev 1, a bug).

  Args:
    weight_decay: if > 0, adds `weight_decay * sum(w ** 2) / 2` of every
      conv and fully connected weight matrix to
      `tf.GraphKeys.REGULARIZATION_LOSSES` (biases are not decayed). The
      article's code meant to use L2 but never set its scale.

  Returns:
    An arg scope for `slim.conv2d` and `slim.fully_connected`.
  """
  regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
  with slim.arg_scope(
      [slim.conv2d, slim.fully_connected],
      weights_regularizer=regularizer,
      weights_initializer=tf.truncated_normal_initializer(stddev=0.1),
      biases_initializer=tf.zeros_initializer()) as sc:
    return sc
