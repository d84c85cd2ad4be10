"""A small batch-norm CNN that reaches 99% on MNIST in about an epoch on a CPU.

    conv1  5x5/2 32, BN, ReLU, max pool 2x2   7x7x32
    conv2  3x3 48, BN, ReLU, max pool 2x2     4x4x48   (SAME: ceil(7/2))
    conv3  3x3 64, BN, ReLU, max pool 2x2     2x2x64
    logits fully connected num_classes

The network of `--preset=sprint`: the cheapest of the layouts measured
that reached 99% test accuracy in about an epoch (1.28 M multiply-adds per
image, forward). Convolutions are most of a training step (72% with 64
filters in conv2, oneDNN on 2 AVX2 cores), and their cost grows with the
pixels they run at: a 3x3 convolution from 32 to 64 channels is 3.6 M
multiply-adds per image at 14x14, 0.9 M at 7x7. So conv1 strides and pools
at once, and the 3x3 convolutions run at 7x7 and 4x4, where width is
cheap; conv2's 48 filters (not 64) train 9% faster to the same accuracy.
Batch norm after every convolution (no biases, He init) lets Adam train at
the high rate a one-epoch run needs; no dropout, which only slows so short
a run.

    from nets import sprint_cnn
    with slim.arg_scope(sprint_cnn.sprint_cnn_arg_scope()):
      logits, end_points = sprint_cnn.sprint_cnn(images, is_training=True)

44,986 trainable parameters (batch norm's beta, no gamma: a ReLU follows).
In towers (`--towers`, which `--fast` chooses) each tower normalises by its
own slice of the batch and the first alone updates the moving averages
(`nets_factory`'s `ghost_batch_norm`): as accurate, a fifth faster.
"""
from resmnist import slim  # tf-slim on today's TensorFlow: see resmnist/__init__.py
import tensorflow.compat.v1 as tf

# A short run: the moving averages must follow weights that move fast (0.9:
# about the last 10 steps).
BATCH_NORM_DECAY = 0.9
DEPTHS = (32, 48, 64)


def sprint_cnn(images, num_classes=10, is_training=False, *, depths=DEPTHS,
               scope='SprintCNN'):
  """Builds the network and returns its logits and end points.

  Build it under `sprint_cnn_arg_scope()`, which puts batch norm after the
  convolutions.

  Args:
    images: float32 `[batch, 28, 28, 1]`, pixels in [0, 1].
    num_classes: number of logits.
    is_training: Python bool or scalar bool tensor; True makes batch norm
      normalise with the batch's statistics and update its moving averages,
      False (the default) use the moving averages.
    depths: filters of conv1, conv2 and conv3.
    scope: variable scope of the network.

  Returns:
    logits: float32 `[batch, num_classes]`, no softmax.
    end_points: dict from layer name ('conv1', 'pool1', ... 'pool3',
      'Flatten', 'Logits') to its output tensor.
  """
  end_points = {}
  with tf.variable_scope(scope, 'SprintCNN', [images]), \
      slim.arg_scope([slim.batch_norm], is_training=is_training), \
      slim.arg_scope([slim.max_pool2d], padding='SAME'):
    net = end_points['conv1'] = slim.conv2d(images, depths[0], [5, 5],
                                            stride=2, scope='conv1')
    net = end_points['pool1'] = slim.max_pool2d(net, [2, 2], scope='pool1')
    for i, depth in enumerate(depths[1:], 2):
      net = end_points['conv%d' % i] = slim.conv2d(net, depth, [3, 3],
                                                   scope='conv%d' % i)
      net = end_points['pool%d' % i] = slim.max_pool2d(net, [2, 2],
                                                       scope='pool%d' % i)
    net = end_points['Flatten'] = slim.flatten(net, scope='flatten')
    logits = end_points['Logits'] = slim.fully_connected(
        net, num_classes, activation_fn=None, normalizer_fn=None,
        biases_initializer=tf.zeros_initializer(), scope='logits')
  return logits, end_points


def sprint_cnn_arg_scope(weight_decay=0.0, batch_norm_decay=BATCH_NORM_DECAY):
  """He init, batch norm after every convolution (no biases there), and L2
  weight decay of the conv and dense weights if `weight_decay` > 0.

  Batch norm updates its moving averages in place (`updates_collections`
  None: see resmnist/__init__.py).
  """
  regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      weights_initializer=slim.variance_scaling_initializer(),
                      weights_regularizer=regularizer), \
      slim.arg_scope([slim.conv2d], padding='SAME', activation_fn=tf.nn.relu,
                     normalizer_fn=slim.batch_norm, biases_initializer=None), \
      slim.arg_scope([slim.batch_norm], decay=batch_norm_decay,
                     updates_collections=None) as scope:
    return scope
