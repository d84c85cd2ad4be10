"""Finds, checks and restores this network's checkpoints.

`tf.train.Saver.restore` on a wrong file fails with a long traceback about
a missing key; the scripts instead use `restore()`, which first compares the
checkpoint's variables with the graph's and raises `CheckpointError` with a
one-line message saying what is wrong and what to do.
"""
from slim_compat import slim  # noqa: F401  (before TensorFlow: see slim_compat.py)
import tensorflow.compat.v1 as tf


class CheckpointError(Exception):
  """A checkpoint is missing, unreadable or of another graph."""


def _list_variables(checkpoint_path):
  try:
    return dict(tf.train.list_variables(checkpoint_path))
  except (tf.errors.OpError, ValueError) as e:
    raise CheckpointError('%s: cannot read the checkpoint (%s); it may be '
                          'truncated or corrupt' % (checkpoint_path,
                                                    _first_line(e)))


def _first_line(error):
  text = getattr(error, 'message', None) or str(error)
  return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def find_checkpoint(model_dir, checkpoint_path=None):
  """Returns `checkpoint_path` if given, else the latest one in `model_dir`."""
  if checkpoint_path:
    if not tf.train.checkpoint_exists(checkpoint_path):
      raise CheckpointError('%s: no such checkpoint (give the path without '
                            '.index or .data, e.g. model/my_model-500)'
                            % checkpoint_path)
    return checkpoint_path
  path = tf.train.latest_checkpoint(model_dir)
  if path is None:
    raise CheckpointError('%s: no checkpoint found; train one with '
                          '`python res_mnist.py --model_dir=%s`'
                          % (model_dir, model_dir))
  return path


def uses_batch_norm(checkpoint_path):
  """True if the checkpoint was trained with `--batch_norm`."""
  return any('/BatchNorm/' in name or name.startswith('BatchNorm/')
             for name in _list_variables(checkpoint_path))


def restore(sess, saver, checkpoint_path, var_list=None):
  """Restores `saver` from `checkpoint_path` after checking its variables.

  Args:
    sess: the session to restore into.
    saver: a `tf.train.Saver` of `var_list`.
    checkpoint_path: e.g. 'model/my_model-500'.
    var_list: the variables `saver` saves; default all global variables.

  Raises:
    CheckpointError: the file is unreadable or holds another graph.
  """
  stored = _list_variables(checkpoint_path)
  if var_list is None:
    var_list = tf.global_variables()
  for variable in var_list:
    name = variable.op.name
    if name not in stored:
      graph_bn = '/BatchNorm/' in name
      hint = ''
      if graph_bn != any('/BatchNorm/' in n for n in stored):
        hint = ('; it was trained %s --batch_norm'
                % ('without' if graph_bn else 'with'))
      raise CheckpointError('%s: checkpoint of another graph, it has no '
                            'variable %s%s' % (checkpoint_path, name, hint))
    shape = variable.shape.as_list()
    if stored[name] != shape:
      raise CheckpointError('%s: checkpoint of another graph, variable %s has '
                            'shape %s, expected %s'
                            % (checkpoint_path, name, stored[name], shape))
  try:
    saver.restore(sess, checkpoint_path)
  except (tf.errors.OpError, ValueError) as e:
    raise CheckpointError('%s: cannot restore the checkpoint (%s); it may be '
                          'truncated or corrupt' % (checkpoint_path,
                                                    _first_line(e)))
