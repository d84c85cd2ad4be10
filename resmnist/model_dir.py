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

`ModelInfo` is that file as one typed object: `read_info` reads and checks
it, `write_info` writes it.

Evaluation, prediction and export read it to rebuild the network. A model
directory made before this file existed still loads: what it is is then
read from its checkpoint's variables.
"""
import dataclasses
import errno
import json
import os
import typing
from typing import Optional

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


@dataclasses.dataclass(frozen=True)
class ModelInfo:
  """What a trained model is: `model.json`, read and checked here only.

  `net` and `net_options` rebuild the network (`nets.models.load_model`);
  `batch_norm` says whether it has batch norm layers; `recipe` holds the
  settings it was trained with (a `Recipe`'s fields), None where unknown;
  `temperature` divides the logits before the softmax (`calibration`),
  None where none was fitted.
  """
  net: str
  batch_norm: bool
  net_options: dict = dataclasses.field(default_factory=dict)
  dataset: str = 'mnist'
  num_classes: int = NUM_CLASSES
  image_size: int = IMAGE_SIZE
  channels: int = 1
  recipe: Optional[dict] = None
  temperature: Optional[float] = None

  def __post_init__(self):
    for field in dataclasses.fields(self):
      kind = typing.get_args(field.type) or (field.type,)
      if float in kind:
        kind += (int,)  # JSON writes 2.0 as 2
      if not isinstance(getattr(self, field.name), kind):
        raise ValueError('%s is not a %s' % (field.name, ' or '.join(
            k.__name__ for k in kind)))

  @property
  def pixels(self):
    return self.image_size * self.image_size * self.channels

  @classmethod
  def from_json(cls, values):
    """The ModelInfo of a `model.json`'s object; ValueError if it is not
    one. A file written before `net_options` was recorded is the ResNet's,
    with or without batch norm."""
    if not isinstance(values, dict):
      raise ValueError('not a JSON object')
    missing = {'net', 'batch_norm'} - set(values)
    if missing:
      raise ValueError('no %s' % ', '.join(sorted(missing)))
    values = dict(values)
    if 'net_options' not in values:
      values['net_options'] = ({'batch_norm': values['batch_norm']}
                               if values['net'] == 'resnet' else {})
    known = {field.name for field in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in values.items() if key in known})

  def as_json(self):
    """The object `model.json` holds (no `recipe` or `temperature` key
    where it is None)."""
    return {key: value for key, value in dataclasses.asdict(self).items()
            if value is not None or key not in ('recipe', 'temperature')}


def write_info(model_dir, info):
  """Writes `info`, a ModelInfo, to `model.json` atomically."""
  path = os.path.join(model_dir, INFO_FILE)
  with open(path + '.part', 'w') as f:
    json.dump(info.as_json(), f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(path + '.part', path)


def info_path(checkpoint_path):
  """The `model.json` of a checkpoint: beside it, or for one in `best/`
  without its own, in the model directory above."""
  directory = os.path.dirname(checkpoint_path)
  beside = os.path.join(directory, INFO_FILE)
  if (os.path.basename(os.path.normpath(directory)) == 'best'
      and not os.path.exists(beside)):
    return os.path.join(os.path.dirname(os.path.normpath(directory)),
                        INFO_FILE)
  return beside


def read_info(model_dir, checkpoint_path=None):
  """The ModelInfo of the model in `model_dir` (or of `checkpoint_path`).

  Reads `model.json` beside the checkpoint; without one (a model directory
  made before it existed), tells from the checkpoint's variables.

  Raises:
    ModelDirError: `model.json` is there but unreadable.
    checkpoints.CheckpointError: no `model.json` and the checkpoint cannot
      be read.
  """
  directory = os.path.dirname(checkpoint_path) if checkpoint_path else model_dir
  path = info_path(os.path.join(directory, 'any'))
  if os.path.exists(path):
    try:
      with open(path) as f:
        return ModelInfo.from_json(json.load(f))
    except (OSError, ValueError, TypeError) as e:
      raise ModelDirError('%s: cannot read it (%s); delete it to have it '
                          'read from the checkpoint' % (path, e))
  if checkpoint_path is None:
    checkpoint_path = checkpoints.require_checkpoint(model_dir)
  # Only the post's ResNet was trained before model.json existed.
  batch_norm = checkpoints.has_batch_norm_variables(checkpoint_path)
  return ModelInfo('resnet', batch_norm, {'batch_norm': batch_norm})


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
