"""What a model directory holds besides its checkpoints.

    model/
      model.json                what the model is (written once by training)
      checkpoint                the state file: which checkpoints there are
      my_model-<step>.*         the checkpoints
      best/                     the best one on validation (--eval_every)
      events.out.tfevents.*     TensorBoard; validation/, test/ likewise
      .lock                     held while a training runs in the directory

`model.json` is small and meant to be read by people too:

    {"net": "resnet", "net_options": {"batch_norm": false},
     "dataset": "mnist", "num_classes": 10, "image_size": 28, "channels": 1,
     "batch_norm": false,
     "recipe": {...the settings it was trained with...}}

`net` and `net_options` rebuild the network (`nets_factory.load_model`);
`batch_norm` says whether it has batch norm layers, for people.

Evaluation, prediction and export read it to rebuild the network. A model
directory made before this file existed still loads: what it is is then
read from its checkpoint's variables.
"""
import errno
import json
import os

from resmnist import checkpoints
from resmnist import errors
from resmnist.input_data import IMAGE_SIZE, NUM_CLASSES

try:
  import fcntl
except ImportError:  # not on a POSIX system: no lock
  fcntl = None

INFO_FILE = 'model.json'
LOCK_FILE = '.lock'


class ModelDirError(errors.Error):
  """A model directory cannot be used."""


def model_info(net, net_options, dataset, batch_norm, recipe=None):
  """What `model.json` says of network `net` built with `net_options`
  (`nets_factory.model_info` fills it in for a recipe)."""
  info = {'net': net, 'net_options': net_options, 'dataset': dataset,
          'num_classes': NUM_CLASSES, 'image_size': IMAGE_SIZE, 'channels': 1,
          'batch_norm': batch_norm}
  if recipe is not None:
    info['recipe'] = recipe
  return info


def net_options(info):
  """The network options of `info`, also from a `model.json` written before
  they were recorded (the ResNet, with or without batch norm)."""
  if 'net_options' in info:
    return info['net_options']
  return {'batch_norm': info['batch_norm']} if info['net'] == 'resnet' else {}


def write_info(model_dir, info):
  """Writes `model.json` atomically."""
  path = os.path.join(model_dir, INFO_FILE)
  with open(path + '.part', 'w') as f:
    json.dump(info, f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(path + '.part', path)


def read_info(model_dir, checkpoint_path=None):
  """What the model in `model_dir` (or of `checkpoint_path`) is.

  Reads `model.json` beside the checkpoint; without one (a model directory
  made before it existed), tells from the checkpoint's variables.

  Raises:
    ModelDirError: `model.json` is there but unreadable.
    checkpoints.CheckpointError: no `model.json` and the checkpoint cannot
      be read.
  """
  directory = os.path.dirname(checkpoint_path) if checkpoint_path else model_dir
  candidates = [directory]
  if os.path.basename(os.path.normpath(directory)) == 'best':
    candidates.append(os.path.dirname(os.path.normpath(directory)))
  for path in (os.path.join(c, INFO_FILE) for c in candidates):
    if not os.path.exists(path):
      continue
    try:
      with open(path) as f:
        info = json.load(f)
      missing = {'net', 'batch_norm'} - set(info)
      if missing:
        raise ValueError('no %s' % ', '.join(sorted(missing)))
    except (OSError, ValueError) as e:
      raise ModelDirError('%s: cannot read it (%s); delete it to have it '
                          'read from the checkpoint' % (path, e))
    return info
  if checkpoint_path is None:
    checkpoint_path = checkpoints.require_checkpoint(model_dir)
  # Only the post's ResNet was trained before model.json existed.
  batch_norm = checkpoints.has_batch_norm_variables(checkpoint_path)
  return model_info('resnet', {'batch_norm': batch_norm}, 'mnist', batch_norm)


def make(model_dir):
  """Creates `model_dir` (and `best/`); ModelDirError if it cannot be."""
  try:
    os.makedirs(os.path.join(model_dir, 'best'), exist_ok=True)
  except OSError as e:
    raise ModelDirError('%s: cannot create the model directory (%s)'
                        % (model_dir, e.strerror or e))
  if not os.access(model_dir, os.W_OK):
    raise ModelDirError('%s: the model directory is not writable' % model_dir)


class Lock(object):
  """An OS lock on a model directory, held while one training runs there.

  The kernel drops it when the process ends, however it ends, so a killed
  run leaves no stale lock. The holder writes its process id into the file
  so that the next one can name it.
  """

  def __init__(self, model_dir):
    self._path = os.path.join(model_dir, LOCK_FILE)
    self._file = None

  def __enter__(self):
    if fcntl is None:
      return self
    self._file = open(self._path, 'a+')
    try:
      fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
        raise
      self._file.seek(0)
      holder = self._file.read().strip() or 'unknown'
      self._file.close()
      raise ModelDirError('%s: another training (process %s) is using this '
                          'model directory; wait for it to end, or give '
                          'another --model_dir'
                          % (os.path.dirname(self._path), holder))
    self._file.seek(0)
    self._file.truncate()
    self._file.write('%d\n' % os.getpid())
    self._file.flush()
    return self

  def __exit__(self, *unused_exc_info):
    if self._file is not None:
      self._file.close()  # releases the lock
