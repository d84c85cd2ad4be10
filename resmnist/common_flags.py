"""Flags that several scripts share, defined in one place.

Each script calls the `define_*` functions it needs at its top, beside its
own flags, and reads them in its `main`:

    common_flags.define_data_flags()
    common_flags.define_model_dir_flags(checkpoint_path=True)

`res_mnist.py`'s recipe and loop flags come from `recipe.define_flags`.
"""
from absl import flags

from resmnist import input_data
from resmnist import recipe


def define_data_flags():
  """--data_dir and --check_sha256."""
  flags.DEFINE_string('data_dir', 'MNIST_data',
                      'Directory of the four gz files (downloaded if '
                      'missing); default MNIST_data, or Fashion_MNIST_data '
                      'for Fashion-MNIST.')
  flags.DEFINE_bool('check_sha256', True,
                    'Check the SHA-256 of the files; turn off to use other '
                    'data in the same format.')


def data_dir(values):
  """--data_dir if given, else None: the dataset's own directory."""
  return values.data_dir if values['data_dir'].present else None


def read_data(values, dataset, validation_size, seed=None):
  """`input_data.read_dataset` of `dataset` as the data flags in `values`
  say."""
  return input_data.read_dataset(dataset, data_dir(values),
                                 values.check_sha256, validation_size, seed)


def define_net_flag(networks):
  """--net: if given, the network the model directory must hold; one of
  `networks` (`nets_factory.NETWORKS`)."""
  flags.DEFINE_enum('net', None, sorted(networks),
                    'If given, the network the model directory must hold '
                    '(it is read from its model.json).')


def define_model_dir_flags(checkpoint_path=False):
  """--model_dir, and --checkpoint_path for scripts that use a checkpoint."""
  recipe.define_flags(recipe.LoopSettings, only=['model_dir'])
  flags.declare_key_flag('model_dir')  # a key flag of this module too
  if checkpoint_path:
    flags.DEFINE_string('checkpoint_path', None,
                        'Checkpoint to use, e.g. model/my_model-500 or '
                        'model/best/my_model-7150; default: the latest in '
                        '--model_dir.')


def define_reader_flags(min_confidence=True):
  """--tta, and --min_confidence, for the scripts that read photos."""
  flags.DEFINE_bool('tta', False, 'Test-time augmentation: read each digit '
                    'also shifted, turned, thinner and bolder, and average '
                    '(photo.test_time_augmented): 9 times the network\'s '
                    'work, for no better accuracy (docs/usage.md).')
  if min_confidence:
    flags.DEFINE_float('min_confidence', 0.7, 'A digit whose top probability '
                       'is below this is shown as "?", unsure.',
                       lower_bound=0.0, upper_bound=1.0)
