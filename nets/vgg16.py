"""VGG16 (seed 003's Vgg class, ImageNet) made to run on 28x28 MNIST digits.

Simonyan and Zisserman's configuration D: thirteen 3x3 SAME convolutions with
bias and ReLU in five blocks (64 x 2, 128 x 2, 256 x 3, 512 x 3, 512 x 3),
each block followed by a 2x2 stride-2 max pool. The seed's code hard-wires a
224x224 input (`reshape(pool5, [-1, 7 * 7 * 512])`) and fails on 28x28.
This module zero-pads the digits instead (option a):

    zero-pad 28x28 -> 32x32                         32x32x1
    conv1..conv5 with pool1..pool5                  1x1x512
    fc6 512, dropout; fc7 512, dropout; fc8 num_classes (logits)

15,243,978 parameters at 10 classes, ~312 M multiply-adds per image. Why (a):
it keeps all 13 convolutions and the five pools of VGG16, and 32x32 is the
smallest input that five 2x2 pools reduce to 1x1 (the pixels are in [0, 1]
with a black background, so zero padding adds background, as LeNet-5 centres
MNIST in a 32x32 field); at ~312 M MACs per image it trains on a CPU. The
original FC 4096-4096 head (option b, 33,637,066 parameters) adds parameters
with no spatial extent to use: pool5 is 1x1, not 7x7. Resizing to 224 (option
c) costs 15.4 G MACs per image, hours per epoch on this CPU.

Typical use:

    from nets import vgg16
    with slim.arg_scope(vgg16.vgg16_arg_scope()):
      logits, end_points = vgg16.vgg16(images, is_training=True)

Variable names follow tf-slim's vgg_16 (`vgg16/conv1/conv1_1/weights`, ...,
`vgg16/fc8/biases`), with fully connected layers instead of slim's
convolutional fc6-fc8 (the same thing on a 1x1 map). `batch_norm=True` puts
batch norm after every convolution, in place of its bias.
"""
from resmnist import slim  # tf-slim on today's TensorFlow: see resmnist/__init__.py
import tensorflow.compat.v1 as tf

from resmnist.input_data import IMAGE_SIZE

# (scope, convolutions, filters) of the five blocks.
BLOCKS = (('conv1', 2, 64), ('conv2', 2, 128), ('conv3', 3, 256),
          ('conv4', 3, 512), ('conv5', 3, 512))
FC_SIZE = 512
PADDED_SIZE = 32
# As in resnet18: moving averages over about the last 100 steps.
BATCH_NORM_DECAY = 0.99
BATCH_NORM_EPSILON = 1e-3


def vgg16(images, num_classes=10, is_training=False, *, dropout_keep_prob=0.5,
          scope='vgg16', batch_norm=False, reuse=None):
  """VGG16 on zero-padded 32x32 digits; returns logits (no softmax), end points.

  Args:
    images: float32 `[batch, 28, 28, 1]`, pixels in [0, 1].
    num_classes: number of logits.
    is_training: Python bool or scalar bool tensor. True turns dropout on
      after fc6 and fc7 (and makes batch norm use batch statistics); the
      default False gives a deterministic function of each image.
    dropout_keep_prob: probability of keeping an fc6 / fc7 activation when
      training (VGG's dropout 0.5).
    scope: variable scope of the network.
    batch_norm: batch norm (no gamma) after every convolution, before its
      ReLU, and no convolution biases. Not in VGG16; it changes the variables.
    reuse: True to reuse the variables of an earlier call with the same
      `scope` (e.g. an evaluation graph beside the training one).

  Returns:
    logits: float32 `[batch, num_classes]`.
    end_points: dict from 'padded' (`[batch, 32, 32, 1]`), 'conv1' ...
      'conv5' (each block's last convolution), 'pool1' ... 'pool5' (the last
      `[batch, 1, 1, 512]`), 'fc6', 'fc7' and 'Logits' to the tensors.
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
  with tf.variable_scope(scope, 'vgg16', [images], reuse=reuse), \
      slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training), \
      slim.arg_scope([slim.conv2d], padding='SAME', activation_fn=tf.nn.relu,
                     **conv_args):
    pad = (PADDED_SIZE - IMAGE_SIZE) // 2
    net = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]],
                 name='padded')
    end_points['padded'] = net
    for i, (name, repeats, depth) in enumerate(BLOCKS):
      net = slim.repeat(net, repeats, slim.conv2d, depth, [3, 3], scope=name)
      end_points[name] = net
      pool = 'pool%d' % (i + 1)
      net = slim.max_pool2d(net, [2, 2], stride=2, scope=pool)
      end_points[pool] = net
    net = slim.flatten(net, scope='flatten')
    for name in ('fc6', 'fc7'):
      net = slim.fully_connected(net, FC_SIZE, activation_fn=tf.nn.relu,
                                 normalizer_fn=None, scope=name)
      end_points[name] = net
      net = slim.dropout(net, dropout_keep_prob,
                         scope='dropout' + name[-1])
    logits = slim.fully_connected(net, num_classes, activation_fn=None,
                                  normalizer_fn=None, scope='fc8')
    end_points['Logits'] = logits
  return logits, end_points



def vgg16_arg_scope(weight_decay=0.0,
                    batch_norm_decay=BATCH_NORM_DECAY,
                    batch_norm_epsilon=BATCH_NORM_EPSILON):
  """The arg scope of `vgg16`: Glorot-uniform weights, zero biases, L2.

  Glorot uniform is what the seed's `tf.layers.conv2d` uses and slim's
  `vgg_arg_scope` keeps (slim's default initializer). Without batch norm it
  roughly halves the signal's variance at each of the 15 ReLU layers: at
  initialisation the logits' spread is ~3e-4 (uniform [0, 1] noise images),
  so the loss starts at ln 10 and falls slowly at first (eight Adam steps
  at 1e-3 on a fixed batch of 8: 2.3025 -> 2.2912, tests/test_nets_large.py).
  For He's initialisation instead, nest
  `slim.arg_scope([slim.conv2d, slim.fully_connected],
  weights_initializer=slim.variance_scaling_initializer())` inside this one,
  or use `vgg16(..., batch_norm=True)`.

  Args:
    weight_decay: if > 0, L2 (`weight_decay * sum(w ** 2) / 2`) on every
      convolution and fully connected kernel (VGG trained with 5e-4).
    batch_norm_decay: decay of batch norm's moving averages
      (`vgg16(batch_norm=True)` only).
    batch_norm_epsilon: batch norm's epsilon.

  Returns:
    An arg scope for `slim.arg_scope`.
  """
  regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      weights_initializer=slim.xavier_initializer(),
                      weights_regularizer=regularizer,
                      biases_initializer=tf.zeros_initializer()), \
      slim.arg_scope([slim.batch_norm], decay=batch_norm_decay,
                     epsilon=batch_norm_epsilon) as scope:
    return scope
