"""Finds, checks and restores checkpoints, with one-line errors.

`tf.train.Saver.restore` on a wrong file fails with a long traceback about a
missing key, and `tf.train.latest_checkpoint` answers None when the small
`checkpoint` state file is damaged, which made training start over. Here:

- `find_checkpoint` reads the state file and, if it is damaged or names
  files that are gone, finds the newest intact checkpoint from the files
  themselves and says so;
- `verify` reads every tensor of a checkpoint and compares its variables
  with a graph's, so a truncated or foreign file is refused before a
  session uses it;
- every problem is a `CheckpointError` with a one-line message.
"""
import glob
import os
import re

import tensorflow.compat.v1 as tf
from google.protobuf import text_format
from tensorflow.python.training import checkpoint_management

from resmnist import errors


class CheckpointError(errors.Error):
  """A checkpoint is missing, unreadable or of another graph."""


# Lines of a TensorFlow error message that say where, not what.
_WHERE = re.compile(r'^(Graph execution error|Detected at node|File "|Node:|'
                    r'\[\[|Hint:)')


def first_line(error):
  """The line of an error's message that says what went wrong.

  A TensorFlow `OpError` raised by `Session.run` starts with "Graph
  execution error:" and the node; the cause comes after. A save's cause
  also names its temporary file, which says nothing to the user.
  """
  text = getattr(error, 'message', None) or str(error)
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  causes = [line for line in lines if not _WHERE.match(line)] or lines
  if not causes:
    return type(error).__name__
  return re.sub(r'^\S*\.tempstate\d*; ', '', causes[0])


def _list_variables(checkpoint_path):
  try:
    return dict(tf.train.list_variables(checkpoint_path))
  except (tf.errors.OpError, ValueError) as e:
    raise CheckpointError('%s: cannot read the checkpoint (%s); it may be '
                          'truncated or corrupt' % (checkpoint_path,
                                                    first_line(e)))


def _read_all(checkpoint_path):
  """Reads every tensor once, so that a truncated data file shows now."""
  try:
    reader = tf.train.load_checkpoint(checkpoint_path)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  # The reader raises IndexError for a data file cut short.
  except (tf.errors.OpError, ValueError, IndexError) as e:
    raise CheckpointError('%s: cannot read the checkpoint (%s); it may be '
                          'truncated or corrupt' % (checkpoint_path,
                                                    first_line(e)))


def _state(model_dir):
  """The listed checkpoints of `model_dir`'s state file, newest last.

  Returns None if there is no state file; raises `text_format.ParseError`,
  or ValueError (UnicodeDecodeError among them), if it cannot be parsed.
  """
  path = os.path.join(model_dir, 'checkpoint')
  if not os.path.exists(path):
    return None
  state = checkpoint_management.CheckpointState()
  with open(path) as f:
    text_format.Merge(f.read(), state)
  if not state.model_checkpoint_path:
    raise ValueError('it names no checkpoint')
  paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
  return [p if os.path.isabs(p) else os.path.join(model_dir, p) for p in paths]


def checkpoints_on_disk(model_dir):
  """`<prefix>-<step>` paths of the checkpoints in `model_dir`, oldest first."""
  found = []
  for index in glob.glob(os.path.join(glob.escape(model_dir), '*-*.index')):
    match = re.search(r'-(\d+)\.index$', index)
    if match:
      found.append((int(match.group(1)), index[:-len('.index')]))
  return [path for _, path in sorted(found)]


def find_checkpoint(model_dir, checkpoint_path=None, log=print):
  """The checkpoint to use: `checkpoint_path`, else the latest in `model_dir`.

  Returns None if `model_dir` holds no checkpoint at all. If its state file
  is damaged or lists nothing that exists, the newest checkpoint among the
  files that reads completely is used, and `log` says so.

  Raises:
    CheckpointError: `checkpoint_path` does not exist, or checkpoint files
      are there but none of them can be read.
  """
  if checkpoint_path:
    if not tf.train.checkpoint_exists(checkpoint_path):
      raise CheckpointError('%s: no such checkpoint (give the path without '
                            '.index or .data, e.g. model/my_model-500)'
                            % checkpoint_path)
    return checkpoint_path
  try:
    listed = _state(model_dir)
    problem = None
    if listed is not None and tf.train.checkpoint_exists(listed[-1]):
      return listed[-1]
    if listed is not None:
      problem = 'names %s, which is gone' % listed[-1]
  except (text_format.ParseError, ValueError, OSError) as e:
    problem = 'cannot be read (%s)' % first_line(e)
  on_disk = checkpoints_on_disk(model_dir)
  if not on_disk:
    if problem:
      raise CheckpointError('%s: the checkpoint state file %s, and there is '
                            'no checkpoint beside it'
                            % (os.path.join(model_dir, 'checkpoint'), problem))
    return None
  for path in reversed(on_disk):
    try:
      _read_all(path)
    except CheckpointError:
      continue
    log('%s: the checkpoint state file %s; using the newest intact '
        'checkpoint found among the files, %s'
        % (os.path.join(model_dir, 'checkpoint'), problem or 'is missing',
           path))
    return path
  raise CheckpointError('%s: none of the %d checkpoints can be read; they may '
                        'be truncated or corrupt' % (model_dir, len(on_disk)))


def require_checkpoint(model_dir, checkpoint_path=None, log=print):
  """`find_checkpoint`, but a model directory without one is an error."""
  path = find_checkpoint(model_dir, checkpoint_path, log)
  if path is None:
    raise CheckpointError('%s: no checkpoint found; train one with '
                          '`python res_mnist.py --model_dir=%s`'
                          % (model_dir, model_dir))
  return path


def has_batch_norm_variables(checkpoint_path):
  """True if the checkpoint holds batch norm variables (`--batch_norm`)."""
  return any('/BatchNorm/' in name or name.startswith('BatchNorm/')
             for name in _list_variables(checkpoint_path))


def has_moving_averages(checkpoint_path):
  """True if the checkpoint holds moving averages of its weights
  (`--moving_average_decay`)."""
  return any(name.endswith('/ExponentialMovingAverage')
             for name in _list_variables(checkpoint_path))


def verify(checkpoint_path, var_list):
  """Checks that `checkpoint_path` reads completely and holds `var_list`
  (variables, or a dict from the names they are saved under to them).

  Raises:
    CheckpointError: the file is unreadable or holds another graph.
  """
  stored = _list_variables(checkpoint_path)
  if not isinstance(var_list, dict):
    var_list = {variable.op.name: variable for variable in var_list}
  for name, variable in var_list.items():
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
  _read_all(checkpoint_path)


def restore(sess, saver, checkpoint_path, var_list):
  """Restores `saver` (a `tf.train.Saver` of `var_list`, a list or a dict
  as for `verify`) after `verify`."""
  verify(checkpoint_path, var_list)
  try:
    saver.restore(sess, checkpoint_path)
  except (tf.errors.OpError, ValueError) as e:
    raise CheckpointError('%s: cannot restore the checkpoint (%s); it may be '
                          'truncated or corrupt' % (checkpoint_path,
                                                    first_line(e)))


def remove_partial_saves(model_dir):
  """Deletes what an interrupted save leaves behind (`*.tempstate*` files)."""
  removed = []
  for path in glob.glob(os.path.join(glob.escape(model_dir), '**',
                                     '*tempstate*'), recursive=True):
    try:
      os.remove(path)
      removed.append(path)
    except OSError:
      pass
  return removed
