"""Flags that several scripts share, defined in one place.

Each script calls the `define_*` functions it needs at its top, beside its
own flags, and reads them in its `main`:

    common_flags.define_data_flags()
    common_flags.define_model_dir_flags(checkpoint_path=True)
"""
from absl import flags

from resmnist import input_data


def define_data_flags():
  """--data_dir and --check_sha256."""
  flags.DEFINE_string('data_dir', 'MNIST_data',
                      'Directory of the MNIST gz files (downloaded if '
                      'missing).')
  flags.DEFINE_bool('check_sha256', True,
                    'Check the SHA-256 of the MNIST files; turn off to use '
                    'other data in the same format (e.g. Fashion-MNIST).')


def define_model_dir_flags(checkpoint_path=False):
  """--model_dir, and --checkpoint_path for scripts that use a checkpoint."""
  flags.DEFINE_string('model_dir', 'model', 'Directory of the checkpoints.')
  if checkpoint_path:
    flags.DEFINE_string('checkpoint_path', None,
                        'Checkpoint to use, e.g. model/my_model-500 or '
                        'model/best/my_model-7150; default: the latest in '
                        '--model_dir.')


def sha256(values):
  """The checksums that `read_data_sets` should check, from the flags."""
  return input_data.MNIST_SHA256 if values.check_sha256 else None
