"""The ResNet for MNIST: the forward graph, importable from any script.

    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    from res_mnist_inference import inference, inference_in_towers
    x = tf.placeholder(tf.float32, [None, 784])
    logits = inference(x)                      # [None, 10], no dropout
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
      train_logits = inference(x, is_training=True)  # same weights, dropout
      fast_logits = inference_in_towers(x, 2)  # = logits, on two cores at once
                                               # with session_config(2)

Layout (SPEC.md): conv 32 3x3, max pool 2x2, three identity blocks of 32,
a projection block to 64 at stride 2, two identity blocks of 64, flatten,
dropout + fully connected 200 (tanh), dropout + fully connected 10.
890,466 trainable parameters in 32 tensors, named as in the original so
that checkpoints keep its keys.

`batch_norm=True` puts `slim.batch_norm` after every convolution (the stem,
the blocks and the 1x1 projection); this changes the variables, so its
checkpoints only restore into a graph built with `batch_norm=True`.
"""
import os

from slim_compat import slim  # before TensorFlow: see slim_compat.py
import numpy as np
import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2

from input_data import IMAGE_PIXELS, IMAGE_SIZE, NUM_CLASSES
from resnet import res_change, res_identity

KEEP_PROB = 0.8
FC_SIZE = 200
# Moving averages over about the last 100 steps: runs here are short.
BATCH_NORM_DECAY = 0.99
BATCH_NORM_EPSILON = 1e-3
# Evaluation: batches of 2000 images, cut into towers (inference_in_towers)
# of at most 250: 8-11% more images/s here than one tower per core.
EVAL_BATCH_SIZE = 2000
EVAL_TOWER_SIZE = 250


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
  no op in common, so a session from `session_config(towers)` runs them at
  once, each on one core with single-threaded kernels: on a CPU that is
  faster than one graph whose every op is split across the cores (README,
  Speed). The logits are `inference`'s up to float rounding; with dropout,
  each tower draws masks of its own. Batch statistics of batch norm would be
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
  if towers < 1:
    raise ValueError('inference_in_towers() needs towers >= 1, got %s' % towers)
  if towers == 1:
    return inference(inputs, **kwargs)
  images = _images(inputs)
  batch = tf.shape(images)[0]
  # oneDNN's convolutions fail on an empty batch: pad a short one with
  # blank images so that every tower has one, and drop their logits.
  images = tf.pad(images, [[0, tf.maximum(towers - batch, 0)], [0, 0], [0, 0],
                           [0, 0]])
  padded = tf.maximum(batch, towers)
  logits = []
  for i in range(towers):
    with tf.variable_scope(tf.get_variable_scope(), reuse=True if i else None), \
        tf.name_scope('tower_%d' % i):
      logits.append(inference(images[padded * i // towers:
                                     padded * (i + 1) // towers], **kwargs))
  return tf.concat(logits, 0)[:batch]


def num_cores():
  """The number of CPUs this process may run on."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not on Linux
    return os.cpu_count() or 1


def eval_towers(batch_size=EVAL_BATCH_SIZE):
  """Towers for evaluating `batch_size` images a step: at least one per core."""
  return max(num_cores(), -(-batch_size // EVAL_TOWER_SIZE))


def session_config(towers=1, bfloat16=False, threads=0):
  """A `tf.ConfigProto` for a graph of `towers` towers.

  Args:
    towers: with more than one, kernels are single-threaded and the towers
      run side by side, one per inter-op thread, as many threads as cores at
      most; with one, each kernel uses every core (two inter-op threads:
      measured best here).
    bfloat16: compute in bfloat16 where it is safe (oneDNN auto mixed
      precision; weights stay float32).
    threads: intra-op threads per kernel; 0: the default above.

  TensorFlow makes its thread pools once, for the first session of the
  process: later sessions share them whatever their config says, so the
  sessions of one script should all use the same towers and threads.
  """
  config = tf.ConfigProto(
      intra_op_parallelism_threads=threads or (1 if towers > 1 else 0),
      inter_op_parallelism_threads=max(min(towers, num_cores()), 2))
  if bfloat16:
    config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
        rewriter_config_pb2.RewriterConfig.ON)
  return config


def evaluation(logits, labels):
  """Returns the number of rows where the top logit is the one-hot label."""
  correct = tf.equal(tf.argmax(logits, 1), tf.argmax(labels, 1))
  return tf.reduce_sum(tf.cast(correct, tf.int32))


def do_eval(sess, eval_sums, images_placeholder, labels_placeholder,
            data_set, batch_size=EVAL_BATCH_SIZE):
  """Runs `data_set` through in order, in batches; returns per-image means.

  Args:
    eval_sums: a tensor summing something over a batch (e.g. `evaluation()`,
      whose mean is the accuracy), or a list of such tensors.

  Returns:
    The mean of `eval_sums` over all of `data_set`: a float, or a list of
    floats if `eval_sums` is a list.
  """
  totals = 0.0
  for start in range(0, data_set.num_examples, batch_size):
    end = start + batch_size
    totals = totals + np.asarray(sess.run(eval_sums, feed_dict={
        images_placeholder: data_set.images[start:end],
        labels_placeholder: data_set.labels[start:end]}), np.float64)
  means = totals / max(data_set.num_examples, 1)
  return means.tolist() if isinstance(eval_sums, (list, tuple)) else float(means)
