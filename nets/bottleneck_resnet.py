"""The bottleneck ResNet of companion article 001, with its "stray bias" switch.

The article fixes another author's TF1 script: a 2x2/2 conv stem, then stage
conv2_x of ResNet-50 (three bottleneck units 64-64-256, the first with a 1x1
projection shortcut, all at stride 1), then a 1024-unit fully connected layer
with dropout. Its bug was an extra trainable bias after each unit's sum,
`relu(main + shortcut + b)`; removing it took test accuracy after 3000 steps
from 11.35% (the network always answers "1") to 95.19% (docs/zoo.md).

    from nets import bottleneck_resnet as br
    with slim.arg_scope(br.bottleneck_resnet_arg_scope()):
      logits, end_points = br.bottleneck_resnet(images, is_training=True)

Parameters: 13,070,794 trainable (fc1 alone holds 98.3%); 13,071,562 with
`stray_bias=True` (3 x 256 more). `canonical=True` gives 13,072,522
trainable (conv biases out, batch-norm gamma and beta in) plus 2,944
batch-norm moving statistics. `he_init=True` changes the initial values
only.

This is a tf-slim port, so its variables are named by slim ('conv1/weights',
'res2a/shortcut/weights', ...), not by the original's `tf.Variable` counter:
its checkpoints do not restore into the original script.
"""
import collections
import contextlib

from resmnist import slim  # tf-slim on today's TensorFlow: see resmnist/__init__.py
import tensorflow.compat.v1 as tf

# As seed 002's Keras layers and res_mnist_inference: runs here are short, so
# the moving averages cover about the last 100 steps.
BATCH_NORM_DECAY = 0.99
BATCH_NORM_EPSILON = 1e-3
# `updates_collections=None`: the moving averages update in place, because
# tf-slim's default UPDATE_OPS path needs tf-keras. `scale`: the canonical
# batch norm has a gamma (slim's default has none).
_BATCH_NORM_PARAMS = {
    'decay': BATCH_NORM_DECAY,
    'epsilon': BATCH_NORM_EPSILON,
    'scale': True,
    'updates_collections': None,
}


@slim.add_arg_scope
def bottleneck(inputs, depth, depth_bottleneck, *, relu_before_add=True,
               stray_bias=False, scope=None):
  """One bottleneck unit at stride 1: 1x1 reduce, 3x3, 1x1 expand, + shortcut.

  The shortcut is the identity when `inputs` already has `depth` channels,
  otherwise a 1x1 projection with no bias and no activation (batch norm, if
  the enclosing arg scope gives `slim.conv2d` a normalizer). The three convs
  of the main path take their bias, initialisers and normalizer from the
  enclosing arg scope.

  Args:
    inputs: `[batch, height, width, channels]` tensor.
    depth: channels of the output (the 1x1 expand).
    depth_bottleneck: channels of the 1x1 reduce and the 3x3 conv.
    relu_before_add: True (the article's code) gives the last conv its own
      ReLU before the sum, `relu(relu(z3) + x)`; False is the canonical
      `relu(z3 + x)`.
    stray_bias: add the original's trainable `[depth]` bias (init 0.1) to
      the sum before the final ReLU.
    scope: variable scope of the unit, e.g. 'res2a'.

  Returns:
    A `[batch, height, width, depth]` tensor.
  """
  with tf.variable_scope(scope, 'bottleneck', [inputs]):
    if inputs.shape.as_list()[-1] == depth:
      shortcut = inputs
    else:
      shortcut = slim.conv2d(inputs, depth, [1, 1], activation_fn=None,
                             biases_initializer=None, scope='shortcut')
    residual = slim.conv2d(inputs, depth_bottleneck, [1, 1], scope='conv1')
    residual = slim.conv2d(residual, depth_bottleneck, [3, 3], scope='conv2')
    residual = slim.conv2d(
        residual, depth, [1, 1],
        activation_fn=tf.nn.relu if relu_before_add else None, scope='conv3')
    net = residual + shortcut
    if stray_bias:
      net += slim.model_variable('stray_bias', shape=[depth],
                                 initializer=tf.constant_initializer(0.1))
    return tf.nn.relu(net)


def bottleneck_resnet(images, num_classes=10, is_training=False,
                      *, dropout_keep_prob=0.5, scope='BottleneckResNet',
                      stray_bias=False, canonical=False, he_init=False):
  """Builds the network of article 001 and returns its logits.

  conv 2x2/2 64 -> max pool 3x3/1 -> res2a (projection), res2b, res2c
  (64-64-256) -> max pool 2x2/2 -> flatten 12,544 -> fc1 1024 ReLU ->
  dropout -> fc2 logits. Every padding is SAME: 28 -> 14 -> 14 -> 7.

  Build it under `bottleneck_resnet_arg_scope()` for the article's
  initialisers; without it slim's defaults (Xavier, zero biases) apply.

  Args:
    images: float32 `[batch, 28, 28, 1]`, pixels in [0, 1].
    num_classes: number of logits.
    is_training: Python bool or scalar bool tensor. True turns dropout on
      (and, with `canonical`, makes batch norm use and update batch
      statistics).
    dropout_keep_prob: share of fc1's outputs kept while training.
    scope: variable scope of the network.
    stray_bias: the original's bug: an extra trainable `[256]` bias after
      each unit's sum, `relu(main + shortcut + b)` (768 more parameters).
    canonical: build the units as tf-slim's `resnet_v1.bottleneck`: batch
      norm after every conv (the stem's and the projection's too), no conv
      biases, no ReLU on the last conv before the sum, He (variance
      scaling) initialisation of the convs. The widths, the pools and the
      fully connected head stay the article's (with its initialisers, so
      the initial logits are still tens of units apart).
    he_init: initialise every conv and fully connected layer with He's
      variance scaling (std sqrt(2 / fan_in)) and zero biases instead of the
      article's `truncated_normal(stddev=0.1)` and 0.1, so that fc1's 12,544
      inputs do not start it with logits tens of units apart (the stray
      bias keeps its 0.1).

  Returns:
    logits: float32 `[batch, num_classes]`, no softmax.
    end_points: OrderedDict from layer name to its output tensor.
  """
  end_points = collections.OrderedDict()
  if canonical:
    conv_scope = slim.arg_scope(
        [slim.conv2d], normalizer_fn=slim.batch_norm,
        normalizer_params=_BATCH_NORM_PARAMS,
        weights_initializer=slim.variance_scaling_initializer())
  else:
    conv_scope = slim.arg_scope([slim.conv2d], normalizer_fn=None)
  if he_init:
    init_scope = slim.arg_scope(
        [slim.conv2d, slim.fully_connected],
        weights_initializer=slim.variance_scaling_initializer(),
        biases_initializer=tf.zeros_initializer())
  else:
    init_scope = contextlib.nullcontext()
  with tf.variable_scope(scope, 'BottleneckResNet', [images]), \
      slim.arg_scope([slim.batch_norm, slim.dropout],
                     is_training=is_training), \
      slim.arg_scope([slim.batch_norm], **_BATCH_NORM_PARAMS), \
      slim.arg_scope([slim.conv2d], padding='SAME', activation_fn=tf.nn.relu), \
      slim.arg_scope([bottleneck], relu_before_add=not canonical,
                     stray_bias=stray_bias), \
      conv_scope, init_scope:
    net = end_points['conv1'] = slim.conv2d(images, 64, [2, 2], stride=2,
                                            scope='conv1')
    # Stride 1: the article's stem pool does not downsample.
    net = end_points['pool1'] = slim.max_pool2d(net, [3, 3], stride=1,
                                                padding='SAME', scope='pool1')
    for unit in ('res2a', 'res2b', 'res2c'):
      net = end_points[unit] = bottleneck(net, 256, 64, scope=unit)
    net = end_points['pool2'] = slim.max_pool2d(net, [2, 2], stride=2,
                                                padding='SAME', scope='pool2')
    net = end_points['Flatten'] = slim.flatten(net, scope='flatten')
    net = end_points['fc1'] = slim.fully_connected(net, 1024, scope='fc1')
    net = end_points['dropout1'] = slim.dropout(net, dropout_keep_prob,
                                                scope='dropout1')
    logits = end_points['Logits'] = slim.fully_connected(
        net, num_classes, activation_fn=None, scope='fc2')
  return logits, end_points



def bottleneck_resnet_arg_scope(weight_decay=0.0):
  """The article's initialisers, and L2 weight decay if asked for.

  Every weight `truncated_normal(stddev=0.1)` and every bias 0.1, as the
  article's `weight_variable` / `bias_variable`. With `canonical=True` the
  network replaces the convs' initialiser by He's (and drops their biases).

  Args:
    weight_decay: if > 0, adds `weight_decay * sum(w ** 2) / 2` of every
      conv and fully connected weight matrix to
      `tf.GraphKeys.REGULARIZATION_LOSSES` (biases and batch norm are not
      decayed).

  Returns:
    An arg scope for `slim.conv2d` and `slim.fully_connected`.
  """
  regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
  with slim.arg_scope(
      [slim.conv2d, slim.fully_connected],
      weights_regularizer=regularizer,
      weights_initializer=tf.truncated_normal_initializer(stddev=0.1),
      biases_initializer=tf.constant_initializer(0.1)) as sc:
    return sc
