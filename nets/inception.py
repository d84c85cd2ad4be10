"""A small GoogLeNet for 28x28 digits, built from seed 003's Inception module.

Seed 003 describes the Inception module only in words, with no widths and no
network: four branches on the same input, concatenated on channels, (1) 1x1
conv; (2) 1x1 -> 3x3; (3) 1x1 -> 5x5; (4) 3x3 max pool -> 1x1. This module is
GoogLeNet's stem shrunk for 28x28x1, then its first three modules with
their widths.

    Conv2d_1a_3x3    conv 3x3 64                          28x28x64
    MaxPool_1b_2x2   max pool 2x2/2                       14x14x64
    Conv2d_2a_3x3    conv 3x3 192                         14x14x192
    Mixed_3a         64, 96->128, 16->32, pool->32        14x14x256
    Mixed_3b         128, 128->192, 32->96, pool->64      14x14x480
    MaxPool_3c_2x2   max pool 2x2/2                       7x7x480
    Mixed_4a         192, 96->208, 16->48, pool->64       7x7x512
    Logits           global average pool, dropout (keep 0.6 when training,
                     GoogLeNet's dropout 0.4), fully connected num_classes

1,045,162 parameters at 10 classes, ~149 M multiply-adds per image. Every
convolution is SAME with bias and ReLU. Branch 2 keeps GoogLeNet's 5x5
(tf-slim's inception_v1 uses 3x3 there). Scope names follow slim's inception_v1
(`Inception/Mixed_3a/Branch_1/Conv2d_0b_3x3/weights`), the module names
GoogLeNet's (3a, 3b, 4a). No auxiliary heads: the net is shallow enough not to
need them. `batch_norm=True` puts batch norm after every convolution, in place
of its bias.

Typical use:

    from nets import inception
    with slim.arg_scope(inception.inception_arg_scope()):
      logits, end_points = inception.inception(images, is_training=True)
"""
from resmnist import slim  # tf-slim on today's TensorFlow: see resmnist/__init__.py
import tensorflow.compat.v1 as tf

# GoogLeNet's Table 1 columns: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5,
# pool proj.
MIXED_3A = (64, 96, 128, 16, 32, 32)
MIXED_3B = (128, 128, 192, 32, 96, 64)
MIXED_4A = (192, 96, 208, 16, 48, 64)
# As in resnet18: moving averages over about the last 100 steps.
BATCH_NORM_DECAY = 0.99
BATCH_NORM_EPSILON = 1e-3


def inception_module(inputs, depths, scope):
  """One Inception module: four branches concatenated on channels.

  Args:
    inputs: `[batch, height, width, channels]` tensor.
    depths: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), the
      filters of GoogLeNet's Table 1.
    scope: variable scope of the module, e.g. 'Mixed_3a'.

  Returns:
    A `[batch, height, width, depths[0] + depths[2] + depths[4] + depths[5]]`
    tensor.
  """
  with tf.variable_scope(scope, 'Mixed', [inputs]), \
      slim.arg_scope([slim.conv2d, slim.max_pool2d], stride=1, padding='SAME'):
    with tf.variable_scope('Branch_0'):
      branch_0 = slim.conv2d(inputs, depths[0], [1, 1], scope='Conv2d_0a_1x1')
    with tf.variable_scope('Branch_1'):
      branch_1 = slim.conv2d(inputs, depths[1], [1, 1], scope='Conv2d_0a_1x1')
      branch_1 = slim.conv2d(branch_1, depths[2], [3, 3], scope='Conv2d_0b_3x3')
    with tf.variable_scope('Branch_2'):
      branch_2 = slim.conv2d(inputs, depths[3], [1, 1], scope='Conv2d_0a_1x1')
      branch_2 = slim.conv2d(branch_2, depths[4], [5, 5], scope='Conv2d_0b_5x5')
    with tf.variable_scope('Branch_3'):
      branch_3 = slim.max_pool2d(inputs, [3, 3], scope='MaxPool_0a_3x3')
      branch_3 = slim.conv2d(branch_3, depths[5], [1, 1], scope='Conv2d_0b_1x1')
    return tf.concat([branch_0, branch_1, branch_2, branch_3], 3)


def inception(images, num_classes=10, is_training=False, *,
              dropout_keep_prob=0.6, scope='Inception',
              batch_norm=False, reuse=None):
  """The MNIST Inception net; returns logits (no softmax) and end points.

  Args:
    images: float32 `[batch, 28, 28, 1]`, pixels in [0, 1] (other sizes
      work: the head is a global average pool).
    num_classes: number of logits.
    is_training: Python bool or scalar bool tensor. True turns dropout on
      before the logits (and makes batch norm use batch statistics); the
      default False gives a deterministic function of each image.
    dropout_keep_prob: probability of keeping a pooled feature when training
      (GoogLeNet's dropout 0.4).
    scope: variable scope of the network.
    batch_norm: batch norm (no gamma) after every convolution, before its
      ReLU, and no convolution biases. Not in GoogLeNet (2014); it changes
      the variables.
    reuse: True to reuse the variables of an earlier call with the same
      `scope` (e.g. an evaluation graph beside the training one).

  Returns:
    logits: float32 `[batch, num_classes]`.
    end_points: dict from the layer names of the module docstring
      ('Conv2d_1a_3x3' ... 'Mixed_4a', the last `[batch, 7, 7, 512]`),
      'global_pool' (`[batch, 512]`) and 'Logits' to the tensors.
  """
  if batch_norm:
    # No gamma: before a ReLU the next layer absorbs it (slim's nets do the
    # same); moving averages updated in place, as this package requires.
    conv_args = dict(normalizer_fn=slim.batch_norm, biases_initializer=None,
                     normalizer_params={'scale': False,
                                        'updates_collections': None})
  else:
    conv_args = dict(normalizer_fn=None)
  end_points = {}
  with tf.variable_scope(scope, 'Inception', [images], reuse=reuse), \
      slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training), \
      slim.arg_scope([slim.conv2d], padding='SAME', activation_fn=tf.nn.relu,
                     **conv_args):
    net = slim.conv2d(images, 64, [3, 3], scope='Conv2d_1a_3x3')
    end_points['Conv2d_1a_3x3'] = net
    net = slim.max_pool2d(net, [2, 2], stride=2, scope='MaxPool_1b_2x2')
    end_points['MaxPool_1b_2x2'] = net
    net = slim.conv2d(net, 192, [3, 3], scope='Conv2d_2a_3x3')
    end_points['Conv2d_2a_3x3'] = net
    net = inception_module(net, MIXED_3A, 'Mixed_3a')
    end_points['Mixed_3a'] = net
    net = inception_module(net, MIXED_3B, 'Mixed_3b')
    end_points['Mixed_3b'] = net
    net = slim.max_pool2d(net, [2, 2], stride=2, scope='MaxPool_3c_2x2')
    end_points['MaxPool_3c_2x2'] = net
    net = inception_module(net, MIXED_4A, 'Mixed_4a')
    end_points['Mixed_4a'] = net
    net = tf.reduce_mean(net, [1, 2], name='global_pool')
    end_points['global_pool'] = net
    net = slim.dropout(net, dropout_keep_prob, scope='Dropout')
    logits = slim.fully_connected(net, num_classes, activation_fn=None,
                                  normalizer_fn=None, scope='Logits')
    end_points['Logits'] = logits
  return logits, end_points



def inception_arg_scope(weight_decay=0.0,
                        batch_norm_decay=BATCH_NORM_DECAY,
                        batch_norm_epsilon=BATCH_NORM_EPSILON):
  """The arg scope of `inception`: He-normal weights, zero biases, L2.

  He initialisation (variance scaling, fan in), as slim's
  `inception_arg_scope`: without batch norm, Glorot's smaller weights would
  shrink the signal at each of the net's ReLU layers.

  Args:
    weight_decay: if > 0, L2 (`weight_decay * sum(w ** 2) / 2`) on every
      convolution and fully connected kernel.
    batch_norm_decay: decay of batch norm's moving averages
      (`inception(batch_norm=True)` only).
    batch_norm_epsilon: batch norm's epsilon.

  Returns:
    An arg scope for `slim.arg_scope`.
  """
  regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      weights_initializer=slim.variance_scaling_initializer(),
                      weights_regularizer=regularizer,
                      biases_initializer=tf.zeros_initializer()), \
      slim.arg_scope([slim.batch_norm], decay=batch_norm_decay,
                     epsilon=batch_norm_epsilon) as scope:
    return scope
