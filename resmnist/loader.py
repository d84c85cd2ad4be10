"""The one way to load a trained model: its evaluation graph, restored.

    from nets import nets_factory
    with nets_factory.load_model('model') as model:   # or checkpoint_path=...
      accuracy, mean_loss = model.evaluate(mnist.test)
      probabilities = model.predict(images)           # [N, 784] in [0, 1]

Training (validation at --eval_every and the final figures), evaluation,
prediction, export and the bench all build their graph here: the network
function that `nets_factory` makes of `model.json` (`model_dir.read_info`),
dropout off, batch norm on its moving averages, in a TF1 graph and session
of its own, so that it works from any script, TF2's eager mode on or off.
"""
import numpy as np
import tensorflow.compat.v1 as tf

from resmnist import checkpoints
from resmnist import model_dir
from resmnist import runtime
from resmnist.training import evaluation


class EvalModel(object):
  """The evaluation graph of a model described by `info`, and its session.

  Attributes:
    graph: its `tf.Graph`.
    images_28x28: float32 placeholder `[None, 28, 28, 1]`.
    images: float32 `[None, 784]`, fed directly or computed from
      `images_28x28` (feeding it cuts the graph above it).
    labels: float32 one-hot placeholder `[None, num_classes]`.
    logits, probabilities, classes: the network's outputs.
    global_step: the global step variable.
    checkpoint_path, step_restored: the checkpoint restored last, and its
      global step; None before the first `restore`.
  """

  def __init__(self, info, network_fn, config=None, averaged=True):
    """Builds the graph of `network_fn` (`nets_factory.get_network_fn`,
    `is_training=False`) for the model `info` describes; `config` defaults
    to `runtime.session_config` of its towers. With `averaged`, the
    weights' moving averages are restored in their place where a
    checkpoint has them (`--moving_average_decay`)."""
    self.info = info
    size, channels = info.get('image_size', 28), info.get('channels', 1)
    pixels = size * size * channels
    self.graph = tf.Graph()
    with self.graph.as_default():
      self.images_28x28 = tf.placeholder(
          tf.float32, [None, size, size, channels], name='images_28x28')
      self.images = tf.placeholder_with_default(
          tf.reshape(self.images_28x28, [-1, pixels]), [None, pixels],
          name='images')
      self.labels = tf.placeholder(
          tf.float32, [None, info.get('num_classes', 10)], name='labels')
      self.logits = network_fn(self.images)[0]
      self.probabilities = tf.nn.softmax(self.logits, name='probabilities')
      self.classes = tf.argmax(self.logits, 1, name='classes')
      self.global_step = tf.train.get_or_create_global_step()
      self._sums = [evaluation(self.logits, self.labels), tf.reduce_sum(
          tf.nn.sparse_softmax_cross_entropy_with_logits(
              labels=tf.argmax(self.labels, 1), logits=self.logits))]
      self._variables = tf.global_variables()
      self._saver = tf.train.Saver(self._variables)
      # A checkpoint of a run with --moving_average_decay: each weight from
      # its average, everything else (e.g. batch norm's statistics) as is.
      self._averaged = tf.train.ExponentialMovingAverage(
          0.0).variables_to_restore(tf.trainable_variables())
      self._averaged_saver = tf.train.Saver(self._averaged)
    self.averaged = averaged
    self.session = tf.Session(graph=self.graph, config=config or (
        runtime.session_config(getattr(network_fn, 'towers', 1))))
    self.checkpoint_path = self.step_restored = None

  def restore(self, checkpoint_path):
    """Loads the weights of `checkpoint_path`; returns its global step."""
    with self.graph.as_default():  # graph mode, even where TF2's eager is on
      if self.averaged and checkpoints.has_moving_averages(checkpoint_path):
        checkpoints.restore(self.session, self._averaged_saver,
                            checkpoint_path, self._averaged)
      else:
        checkpoints.restore(self.session, self._saver, checkpoint_path,
                            self._variables)
      self.step_restored = int(self.session.run(self.global_step))
    self.checkpoint_path = checkpoint_path
    return self.step_restored

  def evaluate(self, data_set, batch_size=runtime.EVAL_BATCH_SIZE):
    """(accuracy, mean cross-entropy) over all of `data_set`, in order."""
    totals = np.zeros(2)
    for start in range(0, data_set.num_examples, batch_size):
      end = start + batch_size
      totals += self.session.run(self._sums, {
          self.images: data_set.images[start:end],
          self.labels: data_set.labels[start:end]})
    return tuple((totals / max(data_set.num_examples, 1)).tolist())

  def predict(self, images):
    """Class probabilities `[N, num_classes]` of `[N, 784]` images."""
    return self.session.run(self.probabilities, {self.images: images})

  def close(self):
    self.session.close()

  def __enter__(self):
    return self

  def __exit__(self, *unused_exc_info):
    self.close()


def load(directory, network_fn_of, checkpoint_path=None, config=None,
         log=print, net=None, averaged=True):
  """The `EvalModel` of `directory`'s latest (or the given) checkpoint.

  Args:
    network_fn_of: a function from the model's `model.json` (a dict) to its
      evaluation network function (`nets_factory.load_model` gives it).
    config: the session's `tf.ConfigProto`, as for `EvalModel`.
    log: where a note on a damaged checkpoint state file goes.
    net: if given, the network the model must be (a `--net` flag).
    averaged: restore the weights' moving averages where the checkpoint
      has them (`EvalModel`).

  Raises:
    checkpoints.CheckpointError: no checkpoint, or it cannot be restored.
    model_dir.ModelDirError: `model.json` cannot be read, or the model is
      not a `net`.
  """
  path = checkpoints.require_checkpoint(directory, checkpoint_path, log)
  info = model_dir.read_info(directory, path)
  if net and info['net'] != net:
    raise model_dir.ModelDirError(
        '%s holds a %s, not a %s (--net); --net is read from the model '
        'directory and need not be given' % (directory, info['net'], net))
  model = EvalModel(info, network_fn_of(info), config, averaged)
  try:
    model.restore(path)
  except checkpoints.CheckpointError:
    model.close()
    raise
  return model
