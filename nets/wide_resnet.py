"""A wide pre-activation ResNet shaped for 28x28 images and a CPU's speed.

Zagoruyko and Komodakis's wide residual network (pre-activation basic
blocks, width over depth, the family that leads Fashion-MNIST's table) with
one block per stage and the stages moved down one resolution:

    stem   conv 3x3 32, max pool 2x2                 14x14x32
    block1 BN, ReLU, conv 3x3 64; BN, ReLU, conv 3x3 64    14x14x64
    block2 the same with 128 filters, the first at s2       7x7x128
    block3 the same with 256 filters, the first at s2       4x4x256
    BN, ReLU, global average pool, fully connected num_classes

A block whose shape changes adds a 1x1 projection (of its BN-ReLU'd input,
as pre-activation ResNets do). Why this shape: a 3x3 convolution costs the
pixels it runs at times its channels squared, so at 28x28 even 32 filters
cost as much as 128 at 7x7; the stem pools at once, and width is spent at
14x14 and below, where clothes' textures and outlines still show. 37 M
multiply-adds per image, forward (the post's ResNet: 22 M); 1,208,938
trainable parameters.

    from nets import wide_resnet
    with slim.arg_scope(wide_resnet.wide_resnet_arg_scope()):
      logits, end_points = wide_resnet.wide_resnet(images, is_training=True)
"""
from resmnist import slim  # tf-slim on today's TensorFlow: see resmnist/__init__.py
import tensorflow.compat.v1 as tf

BATCH_NORM_DECAY = 0.99
STEM_DEPTH = 32
# (filters, stride) of the three blocks.
BLOCKS = ((64, 1), (128, 2), (256, 2))


def block(inputs, depth, stride, scope):
  """Pre-activation basic block: conv(relu(BN(conv(relu(BN(x)))))) + shortcut,
  the shortcut a 1x1 convolution of relu(BN(x)) where the shape changes."""
  with tf.variable_scope(scope):
    activated = tf.nn.relu(slim.batch_norm(inputs, scope='preact'))
    if stride == 1 and inputs.shape[-1] == depth:
      shortcut = inputs
    else:
      shortcut = slim.conv2d(activated, depth, [1, 1], stride=stride,
                             scope='shortcut')
    net = slim.conv2d(activated, depth, [3, 3], stride=stride,
                      normalizer_fn=slim.batch_norm,
                      activation_fn=tf.nn.relu, scope='conv1')
    net = slim.conv2d(net, depth, [3, 3], scope='conv2')
  return net + shortcut


def wide_resnet(images, num_classes=10, is_training=False, *, blocks=BLOCKS,
                scope='WideResNet'):
  """Builds the network and returns its logits and end points.

  Build it under `wide_resnet_arg_scope()`.

  Args:
    images: float32 `[batch, 28, 28, 1]`, pixels in [0, 1].
    num_classes: number of logits.
    is_training: Python bool or scalar bool tensor; True makes batch norm
      normalise with the batch's statistics and update its moving averages,
      False (the default) use the moving averages.
    blocks: (filters, stride) of each block.
    scope: variable scope of the network.

  Returns:
    logits: float32 `[batch, num_classes]`, no softmax.
    end_points: dict from layer name ('stem', 'pool', 'block1', ...,
      'global_pool', 'Logits') to its output tensor.
  """
  end_points = {}
  with tf.variable_scope(scope, 'WideResNet', [images]), \
      slim.arg_scope([slim.batch_norm], is_training=is_training):
    net = end_points['stem'] = slim.conv2d(images, STEM_DEPTH, [3, 3],
                                           scope='stem')
    net = end_points['pool'] = slim.max_pool2d(net, [2, 2], scope='pool')
    for i, (depth, stride) in enumerate(blocks, 1):
      net = end_points['block%d' % i] = block(net, depth, stride,
                                              'block%d' % i)
    net = tf.nn.relu(slim.batch_norm(net, scope='final_bn'))
    net = end_points['global_pool'] = tf.reduce_mean(net, [1, 2])
    logits = end_points['Logits'] = slim.fully_connected(
        net, num_classes, activation_fn=None,
        biases_initializer=tf.zeros_initializer(), scope='logits')
  return logits, end_points


def wide_resnet_arg_scope(weight_decay=0.0, batch_norm_decay=BATCH_NORM_DECAY):
  """He init; convolutions without biases or activation (the blocks place
  batch norm and ReLU); batch norm with its scale (gamma), updating its
  moving averages in place; L2 weight decay if `weight_decay` > 0."""
  regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      weights_initializer=slim.variance_scaling_initializer(),
                      weights_regularizer=regularizer), \
      slim.arg_scope([slim.conv2d], padding='SAME', activation_fn=None,
                     biases_initializer=None), \
      slim.arg_scope([slim.max_pool2d], padding='SAME'), \
      slim.arg_scope([slim.batch_norm], decay=batch_norm_decay, scale=True,
                     updates_collections=None) as scope:
    return scope
