"""Splitting a batch into towers: copies of a network that share its weights.

    logits = in_towers(lambda x: network_fn(x)[0], images, towers=2)

The towers have no op in common, so a session from
`runtime.session_config(towers)` runs them at once, each on one core with
single-threaded kernels (docs/speed.md). `res_mnist_inference.
inference_in_towers` is this for the post's ResNet; the zoo's networks use
it through `nets_factory.get_network_fn(..., towers=N)`.
"""
from resmnist import slim
import tensorflow.compat.v1 as tf

# Batch norm's moving-average updates of the towers after the first: a
# collection that nothing runs, so that no two towers race to update them.
LATER_TOWERS_UPDATES = 'later_towers_batch_norm_updates'


def in_towers(network, images, towers):
  """`network` of `towers` slices of `images`; their logits, concatenated.

  With batch norm in training mode, each tower normalises by its own slice
  (ghost batch norm) and only the first updates the moving averages.

  Args:
    network: a function from a `[batch, ...]` tensor to logits, that builds
      its variables with `tf.get_variable` (as slim's layers do), so that
      the towers after the first reuse them.
    images: a `[batch, ...]` tensor.
    towers: number of slices; 1 calls `network(images)` alone.

  Returns:
    Logits, `[batch, num_classes]`.

  Raises:
    ValueError: if `towers` < 1.
  """
  if towers < 1:
    raise ValueError('a network needs towers >= 1, got %s' % towers)
  if towers == 1:
    return network(images)
  batch = tf.shape(images)[0]
  # oneDNN's convolutions fail on an empty batch: pad a short one with
  # blank images so that every tower has one, and drop their logits.
  paddings = [[0, tf.maximum(towers - batch, 0)]] + [
      [0, 0]] * (images.shape.rank - 1)
  images = tf.pad(images, paddings)
  padded = tf.maximum(batch, towers)
  logits = []
  for i in range(towers):
    later = {'updates_collections': [LATER_TOWERS_UPDATES]} if i else {}
    with tf.variable_scope(tf.get_variable_scope(), reuse=True if i else None), \
        tf.name_scope('tower_%d' % i), \
        slim.arg_scope([slim.batch_norm], **later):
      logits.append(network(images[padded * i // towers:
                                   padded * (i + 1) // towers]))
  return tf.concat(logits, 0)[:batch]
