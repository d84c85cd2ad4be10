"""Flags that several scripts share, defined in one place.

Each script calls the `define_*` functions it needs at its top, beside its
own flags, and reads them in its `main`:

    common_flags.define_data_flags()
    common_flags.define_model_dir_flags(checkpoint_path=True)
"""
from absl import flags

from resmnist import input_data


def define_data_flags(dataset=True):
  """--data_dir, --check_sha256 and (for training) --dataset."""
  if dataset:
    flags.DEFINE_enum('dataset', 'mnist', sorted(input_data.DATASETS),
                      'Which data to train on: MNIST digits or Zalando\'s '
                      'Fashion-MNIST (same format, 10 kinds of clothing).')
  flags.DEFINE_string('data_dir', 'MNIST_data',
                      'Directory of the four gz files (downloaded if '
                      'missing); default MNIST_data, or Fashion_MNIST_data '
                      'for Fashion-MNIST.')
  flags.DEFINE_bool('check_sha256', True,
                    'Check the SHA-256 of the files; turn off to use other '
                    'data in the same format.')


def define_net_flag(default):
  """--net: the network to train (default `default`), or to check."""
  from nets import nets_factory  # the networks pull in TensorFlow
  flags.DEFINE_enum('net', default, sorted(nets_factory.networks_map),
                    'The network (docs/zoo.md).' if default else
                    'If given, the network the model directory must hold '
                    '(it is read from its model.json).')


def read_data(values, dataset, validation_size, seed=None):
  """`read_data_sets` of `dataset` as the data flags in `values` say."""
  spec = input_data.DATASETS[dataset]
  data_dir = values.data_dir if values['data_dir'].present else spec.data_dir
  return input_data.read_data_sets(
      data_dir, one_hot=True, validation_size=validation_size, seed=seed,
      sha256=spec.sha256 if values.check_sha256 else None,
      mirrors=spec.mirrors)


def define_model_dir_flags(checkpoint_path=False):
  """--model_dir, and --checkpoint_path for scripts that use a checkpoint."""
  flags.DEFINE_string('model_dir', 'model', 'Directory of the checkpoints.')
  if checkpoint_path:
    flags.DEFINE_string('checkpoint_path', None,
                        'Checkpoint to use, e.g. model/my_model-500 or '
                        'model/best/my_model-7150; default: the latest in '
                        '--model_dir.')
