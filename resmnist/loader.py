"""The one way to load a trained model: its evaluation graph, restored.

    from nets import models
    with models.load_model('model') as model:   # or checkpoint_path=...
      accuracy, mean_loss = model.evaluate(mnist.test)
      probabilities = model.predict(images)           # [N, 784] in [0, 1]

Training (validation at --eval_every and the final figures), evaluation,
prediction, export and the bench all build their graph here: the network
function that `nets/models.py` makes of `model.json` (`model_dir.read_info`),
dropout off, batch norm on its moving averages, in a TF1 graph and session
of its own, so that it works from any script, TF2's eager mode on or off.
"""
import dataclasses

import numpy as np
import tensorflow.compat.v1 as tf

from resmnist import checkpoints
from resmnist import model_dir
from resmnist import runtime


class EvalModel(object):
  """The evaluation graph of a model described by `info`, and its session.

  Attributes:
    graph: its `tf.Graph`.
    images_28x28: float32 placeholder `[None, 28, 28, 1]`.
    images: float32 `[None, 784]`, fed directly or computed from
      `images_28x28` (feeding it cuts the graph above it).
    labels: float32 one-hot placeholder `[None, num_classes]`.
    logits, probabilities, classes: the network's outputs; the
      probabilities are of the logits divided by the model's temperature
      where it has one (`calibration`).
    global_step: the global step variable.
    checkpoint_path, step_restored: the checkpoint restored last, and its
      global step; None before the first `restore`.
  """

  def __init__(self, info, network_fn, config=None, averaged=True):
    """Builds the graph of `network_fn` (`nets_factory.get_network_fn`,
    `is_training=False`) for the model `info` (a `model_dir.ModelInfo`)
    describes, in a session of `config` (default
    `runtime.session_config()`). With `averaged`, the weights' averages are
    restored in their place where a checkpoint has them
    (`--moving_average_decay`, `--swa_start`)."""
    self.info = info
    size, channels, pixels = info.image_size, info.channels, info.pixels
    self.graph = tf.Graph()
    with self.graph.as_default():
      self.images_28x28 = tf.placeholder(
          tf.float32, [None, size, size, channels], name='images_28x28')
      self.images = tf.placeholder_with_default(
          tf.reshape(self.images_28x28, [-1, pixels]), [None, pixels],
          name='images')
      self.labels = tf.placeholder(
          tf.float32, [None, info.num_classes], name='labels')
      self.logits = network_fn(self.images)[0]
      self.probabilities = tf.nn.softmax(
          self.logits / info.temperature if info.temperature else self.logits,
          name='probabilities')
      self.classes = tf.argmax(self.logits, 1, name='classes')
      self.global_step = tf.train.get_or_create_global_step()
      self._loss_sum = tf.reduce_sum(
          tf.nn.sparse_softmax_cross_entropy_with_logits(
              labels=tf.argmax(self.labels, 1), logits=self.logits))
      self._variables = tf.global_variables()
      self._saver = tf.train.Saver(self._variables)
      # A checkpoint of a run with --moving_average_decay: each weight from
      # its average, everything else (e.g. batch norm's statistics) as is.
      self._averaged = tf.train.ExponentialMovingAverage(
          0.0).variables_to_restore(tf.trainable_variables())
      self._averaged_saver = tf.train.Saver(self._averaged)
    self.averaged = averaged
    self.session = tf.Session(graph=self.graph,
                              config=config or runtime.session_config())
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
    right = loss_sum = 0.0
    for start in range(0, data_set.num_examples, batch_size):
      labels = data_set.labels[start:start + batch_size]
      classes, batch_loss = self.session.run(
          [self.classes, self._loss_sum],
          {self.images: data_set.images[start:start + batch_size],
           self.labels: labels})
      right += np.sum(classes == labels.argmax(1))
      loss_sum += batch_loss
    examples = max(data_set.num_examples, 1)
    return float(right / examples), float(loss_sum / examples)

  def predict(self, images):
    """Class probabilities `[N, num_classes]` of `[N, 784]` images."""
    return self.session.run(self.probabilities, {self.images: images})

  def logits_of(self, images, batch_size=runtime.EVAL_BATCH_SIZE):
    """The logits `[N, num_classes]` of `[N, 784]` images, in batches."""
    return np.concatenate([
        self.session.run(self.logits, {self.images: images[start:start +
                                                           batch_size]})
        for start in range(0, len(images), batch_size)] or [
            np.zeros((0, self.info.num_classes), np.float32)])

  def close(self):
    self.session.close()

  def __enter__(self):
    return self

  def __exit__(self, *unused_exc_info):
    self.close()


def load(directory, network_fn_of, checkpoint_path=None, *, config=None,
         log=print, net=None, averaged=True, calibrated=True):
  """The `EvalModel` of `directory`'s latest (or the given) checkpoint.

  Args:
    network_fn_of: a function from the model's `model_dir.ModelInfo` to its
      evaluation network function and that function's towers
      (`nets.models.load_model` gives it).
    config: the session's `tf.ConfigProto`; default
      `runtime.session_config` of those towers.
    log: where a note on a damaged checkpoint state file goes.
    net: if given, the network the model must be (a `--net` flag).
    calibrated: divide the logits by the model's temperature, where it has
      one, before the softmax (False: the probabilities as trained).
    averaged: restore the weights' moving averages where the checkpoint
      has them (`EvalModel`).

  Raises:
    checkpoints.CheckpointError: no checkpoint, or it cannot be restored.
    model_dir.ModelDirError: `model.json` cannot be read, or the model is
      not a `net`.
  """
  path = checkpoints.require_checkpoint(directory, checkpoint_path, log)
  info = model_dir.read_info(directory, path)
  if not calibrated:
    info = dataclasses.replace(info, temperature=None)
  if net and info.net != net:
    raise model_dir.ModelDirError(
        '%s holds a %s, not a %s (--net); --net is read from the model '
        'directory and need not be given' % (directory, info.net, net))
  network_fn, towers = network_fn_of(info)
  model = EvalModel(info, network_fn, config or runtime.session_config(towers),
                    averaged)
  try:
    model.restore(path)
  except checkpoints.CheckpointError:
    model.close()
    raise
  return model
