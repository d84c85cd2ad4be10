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
  if 'data_dir' in flags.FLAGS:
    return  # defined here already, for another script of this process
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
                                 values.check_sha256,
                                 validation_size=validation_size, seed=seed)


def define_net_flag(networks):
  """--net, as `Recipe` declares it; one of `networks`
  (`nets_factory.NETWORKS`). A script that reads a model checks it only if
  given (`required_net`)."""
  recipe.define_flags(recipe.Recipe, choices={'net': sorted(networks)},
                      only=['net'])
  flags.declare_key_flag('net')


def required_net(values):
  """--net if given, else None: the model's own network."""
  return values.net if values['net'].present else None


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
  """--tta, and --min_confidence for the scripts that read photos."""
  if 'tta' in flags.FLAGS:
    return  # defined here already, for another script of this process
  flags.DEFINE_bool('tta', False, 'Test-time augmentation: average the '
                    'probabilities of each image\'s variants: shifted, '
                    'turned, thinner and bolder (9 readings, '
                    'photo.test_time_augmented); res_mnist_eval.py reads '
                    'Fashion-MNIST\'s clothes as they are and mirrored (2) '
                    '(docs/usage.md).')
  if min_confidence:
    flags.DEFINE_float('min_confidence', 0.7, 'A digit whose top probability '
                       'is below this is shown as "?", unsure.',
                       lower_bound=0.0, upper_bound=1.0)
