"""ResNet-18 as seed 002 builds it in Keras (Fashion-MNIST), for 28x28x1 images.

The layout is kuangliu's CIFAR ResNet-18: a 3x3 stride-1 stem with no max pool, then four stages of two
post-activation basic blocks (64, 128, 256, 512 filters; stride 2 at the
first block of stages 2-4), global average pooling and one dense layer:

    stem   conv 3x3/1 64, BN, ReLU                  28x28x64
    block1 2 x basic block 64                       28x28x64
    block2 2 x basic block 128, the first at s2     14x14x128
    block3 2 x basic block 256, the first at s2     7x7x256
    block4 2 x basic block 512, the first at s2     4x4x512 (SAME: ceil(7/2))
    global average pool, dense num_classes (L2 on its kernel)

11,172,810 trainable parameters and 9,600 batch norm moving averages at 10
classes, as Keras's `model.summary()` gives; 455.8 M multiply-adds per image.
The differences from He et al.'s ImageNet ResNet-18 (7x7/2 stem + 3x3/2 max
pool, 11,689,512 parameters) are the stem and the input.

Typical use:

    from nets import resnet18
    with slim.arg_scope(resnet18.resnet18_arg_scope()):
      logits, end_points = resnet18.resnet18(images, is_training=True)
    loss = (tf.losses.sparse_softmax_cross_entropy(labels, logits)
            + tf.losses.get_regularization_loss())  # the dense layer's L2

The network fixes what makes it this ResNet-18 (batch norm with gamma after
every convolution, no convolution biases, where the ReLUs go) and that batch
norm updates its moving averages in place (`updates_collections=None`: the
default UPDATE_OPS path needs tf-keras, which is not installed). The arg scope
holds what one may tune, with Keras's defaults: Glorot-uniform weights, zero
biases, batch norm decay 0.99 and epsilon 1e-3.
"""
from resmnist import slim  # tf-slim on today's TensorFlow: see resmnist/__init__.py
import tensorflow.compat.v1 as tf

# Keras BatchNormalization's momentum and epsilon (slim's: 0.999, 1e-3).
BATCH_NORM_DECAY = 0.99
BATCH_NORM_EPSILON = 1e-3
# The article's Dense(kernel_regularizer=regularizers.l2()), Keras's scale:
# 0.01 * sum(w ** 2).
DENSE_L2 = 0.01
# (filters, blocks, stride of the first block) of the four stages.
STAGES = ((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2))


def basic_block(inputs, depth, stride, scope=None):
  """Post-activation basic block: relu(BN(conv(relu(BN(conv(x))))) + shortcut).

  Convolutions are 3x3 SAME, the first with stride `stride`. The shortcut is
  `inputs` when the shape is kept, else a 1x1 convolution with stride
  `stride` followed by batch norm (option B of He et al.). Batch norm and the
  absence of biases come from the enclosing arg scope of `resnet18`.

  Args:
    inputs: `[batch, height, width, channels]` tensor.
    depth: number of filters of the block's convolutions.
    stride: stride of the first convolution and of the projection.
    scope: variable scope of the block, e.g. 'unit_1'.

  Returns:
    A `[batch, ceil(height / stride), ceil(width / stride), depth]` tensor.
  """
  with tf.variable_scope(scope, 'basic_block', [inputs]):
    # Variables in the order Keras creates them: the main path, then the
    # projection (ResnetBlock.__init__ builds c1, b1, c2, b2, down_c1, down_b1).
    residual = slim.conv2d(inputs, depth, [3, 3], stride=stride, scope='conv1')
    residual = slim.conv2d(residual, depth, [3, 3], activation_fn=None,
                           scope='conv2')
    if stride == 1 and inputs.shape[-1] == depth:
      shortcut = inputs
    else:
      shortcut = slim.conv2d(inputs, depth, [1, 1], stride=stride,
                             activation_fn=None, scope='shortcut')
    return tf.nn.relu(shortcut + residual)


def resnet18(images, num_classes=10, is_training=False, *, scope='resnet18',
             dense_l2=DENSE_L2, reuse=None):
  """ResNet-18 with the CIFAR stem; returns logits (no softmax) and end points.

  Args:
    images: float32 `[batch, 28, 28, 1]`, pixels in [0, 1] (any height and
      width work: the network is convolutional up to the global pool).
    num_classes: number of logits.
    is_training: Python bool or scalar bool tensor. True makes batch norm
      normalise with the batch's statistics and update its moving averages;
      False (the default) uses the moving averages, so the logits are a
      deterministic function of each image.
    scope: variable scope of the network.
    dense_l2: L2 factor on the dense layer's kernel, in Keras's scale: adds
      `dense_l2 * sum(w ** 2)` to `tf.GraphKeys.REGULARIZATION_LOSSES` (slim's
      `l2_regularizer(2 * dense_l2)`, whose loss is sum(w ** 2) / 2). 0 turns
      it off. Biases and batch norm are not decayed.
    reuse: True to reuse the variables of an earlier call with the same
      `scope` (e.g. an evaluation graph beside the training one).

  Returns:
    logits: float32 `[batch, num_classes]`.
    end_points: dict from 'conv1', 'block1/unit_1' ... 'block4/unit_2'
      (the last one `[batch, 4, 4, 512]` for 28x28 input), 'global_pool'
      (`[batch, 512]`) and 'Logits' to the tensors.
  """
  dense_regularizer = (slim.l2_regularizer(2.0 * dense_l2) if dense_l2 > 0
                       else None)
  end_points = {}
  with tf.variable_scope(scope, 'resnet18', [images], reuse=reuse), \
      slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training), \
      slim.arg_scope([slim.conv2d], padding='SAME', activation_fn=tf.nn.relu,
                     biases_initializer=None, normalizer_fn=slim.batch_norm,
                     # Keras's BN has gamma (slim's default scale=False would
                     # drop 4,800 parameters); these beat any outer arg scope.
                     normalizer_params={'scale': True,
                                        'updates_collections': None}):
    net = slim.conv2d(images, 64, [3, 3], scope='conv1')
    end_points['conv1'] = net
    for i, (depth, blocks, stride) in enumerate(STAGES):
      with tf.variable_scope('block%d' % (i + 1)):
        for j in range(blocks):
          net = basic_block(net, depth, stride if j == 0 else 1,
                            scope='unit_%d' % (j + 1))
          end_points['block%d/unit_%d' % (i + 1, j + 1)] = net
    net = tf.reduce_mean(net, [1, 2], name='global_pool')
    end_points['global_pool'] = net
    logits = slim.fully_connected(net, num_classes, activation_fn=None,
                                  normalizer_fn=None,
                                  weights_regularizer=dense_regularizer,
                                  biases_initializer=tf.zeros_initializer(),
                                  scope='logits')
    end_points['Logits'] = logits
  return logits, end_points



def resnet18_arg_scope(weight_decay=0.0,
                       batch_norm_decay=BATCH_NORM_DECAY,
                       batch_norm_epsilon=BATCH_NORM_EPSILON):
  """The arg scope of `resnet18`: Keras's initialisers and batch norm settings.

  Args:
    weight_decay: if > 0, L2 (`weight_decay * sum(w ** 2) / 2`) on every
      convolution kernel. The article has none there; the dense layer's L2 is
      `resnet18`'s `dense_l2`.
    batch_norm_decay: decay of the moving averages (Keras's momentum).
    batch_norm_epsilon: added to the variance before dividing by its root.

  Returns:
    An arg scope for `slim.arg_scope`.
  """
  regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
  # Keras's default Glorot uniform is slim's xavier_initializer(uniform=True);
  # both count a conv's fans as kh * kw * channels.
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      weights_initializer=slim.xavier_initializer()), \
      slim.arg_scope([slim.conv2d], weights_regularizer=regularizer), \
      slim.arg_scope([slim.batch_norm], decay=batch_norm_decay,
                     epsilon=batch_norm_epsilon) as scope:
    return scope
