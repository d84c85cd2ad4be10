"""The ResNet for MNIST, importable from any script: the model's four functions.

As TF1's tutorial `mnist.py`: `inference` builds the network, `loss` the
cross-entropy, `training` the train op, `evaluation` counts right answers.
`res_mnist.py` trains every network of the package with the last three.

    from res_mnist_inference import inference, inference_in_towers
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    x = tf.placeholder(tf.float32, [None, 784])
    logits = inference(x)                      # [None, 10], no dropout
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
      train_logits = inference(x, is_training=True)  # same weights, dropout
      fast_logits = inference_in_towers(x, 2)  # = logits, on two cores at once
                                  # with resmnist.runtime.session_config(2)

Layout (the original blog's): conv 32 3x3, max pool 2x2, three identity blocks of 32,
a projection block to 64 at stride 2, two identity blocks of 64, flatten,
dropout + fully connected 200 (tanh), dropout + fully connected 10.
890,466 trainable parameters in 32 tensors, named as in the original so
that checkpoints keep its keys.

`batch_norm=True` puts `slim.batch_norm` after every convolution (the stem,
the blocks and the 1x1 projection); this changes the variables, so its
checkpoints only restore into a graph built with `batch_norm=True`.
"""
from resmnist import slim
import tensorflow.compat.v1 as tf

from resmnist.input_data import IMAGE_PIXELS, IMAGE_SIZE, NUM_CLASSES
from resmnist.towers import in_towers
from resnet import res_change, res_identity

KEEP_PROB = 0.8
FC_SIZE = 200
# Moving averages over about the last 100 steps: runs here are short.
BATCH_NORM_DECAY = 0.99
BATCH_NORM_EPSILON = 1e-3


def _images(inputs):
  """`inputs` as a `[batch, 28, 28, 1]` tensor; ValueError if it is not."""
  inputs = tf.convert_to_tensor(inputs)
  pixels = inputs.shape[1:].num_elements()
  if pixels is not None and pixels != IMAGE_PIXELS:
    raise ValueError('inference() wants images of %d pixels ([batch, %d] or '
                     '[batch, %d, %d, 1]), got shape %s'
                     % (IMAGE_PIXELS, IMAGE_PIXELS, IMAGE_SIZE, IMAGE_SIZE,
                        inputs.shape))
  return tf.reshape(inputs, [-1, IMAGE_SIZE, IMAGE_SIZE, 1])


def inference(inputs, is_training=False, batch_norm=False, weight_decay=0.0):
  """Builds the network and returns its logits.

  Args:
    inputs: float tensor `[batch, 784]` or `[batch, 28, 28, 1]`, pixels in
      [0, 1].
    is_training: Python bool or scalar bool tensor. True turns dropout on and
      makes batch norm use (and update) batch statistics; the default False
      gives a deterministic function of `inputs`.
    batch_norm: put batch norm after every convolution.
    weight_decay: if > 0, adds `weight_decay * sum(w ** 2) / 2` of every
      conv and fully connected weight matrix to
      `tf.GraphKeys.REGULARIZATION_LOSSES` (L2; biases and batch norm
      parameters are not decayed).

  Returns:
    Logits, a float tensor `[batch, 10]`.

  Raises:
    ValueError: if the static shape of `inputs` is not one image per row.
  """
  x = _images(inputs)
  normalizer_fn = slim.batch_norm if batch_norm else None
  regularizer = slim.l2_regularizer(weight_decay) if weight_decay > 0 else None
  # Re-entering the current variable scope makes slim's default layer names
  # ('Conv', 'Conv_1', ...) start afresh at each call, so that a second call
  # with reuse=True (an eval graph, a tower) finds the first call's variables.
  with tf.variable_scope(tf.get_variable_scope(), auxiliary_name_scope=False), \
      slim.arg_scope([slim.conv2d], normalizer_fn=normalizer_fn), \
      slim.arg_scope([slim.conv2d, slim.fully_connected],
                     weights_regularizer=regularizer), \
      slim.arg_scope([slim.batch_norm], is_training=is_training,
                     decay=BATCH_NORM_DECAY, epsilon=BATCH_NORM_EPSILON,
                     updates_collections=None), \
      slim.arg_scope([slim.dropout], keep_prob=KEEP_PROB,
                     is_training=is_training):
    net = tf.nn.relu(slim.conv2d(x, 32, [3, 3]))
    net = slim.max_pool2d(net, [2, 2])
    net = res_identity(net, 32, [3, 3], 'layer_2')
    net = res_identity(net, 32, [3, 3], 'layer_3')
    net = res_identity(net, 32, [3, 3], 'layer_4')
    net = res_change(net, 64, [3, 3], 'layer_5')
    net = res_identity(net, 64, [3, 3], 'layer_6')
    net = res_identity(net, 64, [3, 3], 'layer_7')
    net = slim.flatten(net, scope='flatten')
    net = slim.dropout(net)
    net = slim.fully_connected(net, FC_SIZE, activation_fn=tf.nn.tanh,
                               scope='fc_1')
    net = slim.dropout(net)
    logits = slim.fully_connected(net, NUM_CLASSES, activation_fn=None,
                                  scope='output_layer')
  return logits


def inference_in_towers(inputs, towers, **kwargs):
  """`inference` of `towers` slices of the batch; their logits, concatenated.

  The towers share one set of variables, named as in `inference`, and have
  no op in common, so a session from `runtime.session_config(towers)` runs
  them at once, each on one core with single-threaded kernels: on 2 cores of
  an AVX-512 Xeon that is faster than one graph whose every op is split
  across the cores (docs/speed.md). The logits are `inference`'s up to float
  rounding; with dropout, each tower draws masks of its own. Batch statistics of batch norm would be
  per tower: use `towers=1` to train with batch norm.

  Args:
    inputs: as for `inference`.
    towers: number of slices; 1 builds exactly `inference`'s graph.
    **kwargs: passed to `inference`.

  Returns:
    Logits, a float tensor `[batch, 10]`.

  Raises:
    ValueError: if `towers` < 1, or as `inference` does.
  """
  if towers == 1:
    return inference(inputs, **kwargs)
  return in_towers(lambda images: inference(images, **kwargs), _images(inputs),
                   towers)


@slim.add_arg_scope
def resnet(images, num_classes=NUM_CLASSES, is_training=False,
           *, weight_decay=0.0, batch_norm=False, towers=1):
  """`inference_in_towers` as tf-slim's networks are called (`nets_factory`).

  Returns:
    (logits, end_points).

  Raises:
    ValueError: `num_classes` is not 10 (the original has 10 outputs), or as
      `inference_in_towers` does.
  """
  if num_classes != NUM_CLASSES:
    raise ValueError('resnet has %d classes, not %d'
                     % (NUM_CLASSES, num_classes))
  logits = inference_in_towers(images, towers, is_training=is_training,
                               batch_norm=batch_norm,
                               weight_decay=weight_decay)
  return logits, {'Logits': logits}


def resnet_arg_scope(weight_decay=0.0):
  # `inference` takes its weight decay as an argument, not from a scope.
  with slim.arg_scope([resnet], weight_decay=weight_decay) as scope:
    return scope


def loss(logits, labels, label_smoothing=0.0):
  """Mean softmax cross-entropy of `logits` against one-hot `labels`.

  As the original: `sparse_softmax_cross_entropy_with_logits` on the argmax
  of the labels, averaged. With `label_smoothing`, against targets that give
  that share of each label's probability evenly to every class (0.1: 0.91 to
  the label, 0.01 to each other). Weight decay is not in it: add
  `tf.losses.get_regularization_loss()` for the loss to minimise.
  """
  if label_smoothing:
    return tf.losses.softmax_cross_entropy(
        labels, logits, label_smoothing=label_smoothing, loss_collection=None)
  return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.argmax(labels, 1), logits=logits), name='cross_entropy')


def training(total_loss, optimizer, global_step):
  """`optimizer.minimize(total_loss)` with `global_step` incremented;
  returns the train op, which evaluates to the new global step.

  The original's optimizer is Adam, which it gave the base rate: here it is
  given the decayed one (`res_mnist.py`).

  GATE_NONE: the default GATE_OP wraps each op's gradients in identities,
  which stops oneDNN from fusing BiasAddGrad into the filter gradient and
  serialises the backward pass (same math; docs/speed.md). Ungated, Adam
  may update a weight while the backward pass still needs it, so the
  variables must be resource variables (their reads keep the value they
  read): build the network under `variable_scope(..., use_resource=True)`.

  Like slim's `create_train_op`, the train op is the global step read after
  the update (fetching `global_step` beside it could read the resource
  variable before the increment).
  """
  update = optimizer.minimize(
      total_loss, global_step=global_step,
      gate_gradients=tf.train.Optimizer.GATE_NONE)
  with tf.control_dependencies([update]):
    return global_step.read_value()


def evaluation(logits, labels):
  """The number of rows whose top logit is their one-hot label's class."""
  correct = tf.equal(tf.argmax(logits, 1), tf.argmax(labels, 1))
  return tf.reduce_sum(tf.cast(correct, tf.int32))
