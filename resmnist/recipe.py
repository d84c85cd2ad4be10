"""The settings of one training run, each declared once, and the presets.

A setting is a field of `Recipe` (what is trained, and how) or of
`LoopSettings` (where the run writes, and how often it logs, saves and
validates): its type, default, bounds and help are written here and nowhere
else. `res_mnist.py`'s flags and `--help` come from them (`define_flags`),
and the scripts make the two values from the parsed flags (`from_flags`).
The defaults are the original blog's run (batch 100, Adam on
`exponential_decay(0.003, step, 200, 0.97)`, 500 steps), so `Recipe()` is
that run.

    from resmnist.recipe import Recipe
    recipe = Recipe(net='lenet5', epochs=1, seed=1)
"""
import dataclasses
import math
import typing
from typing import Optional

from absl import flags

from resmnist import errors
from resmnist import input_data


class SettingError(errors.Error, ValueError):
  """A setting is out of its bounds, or does not go with another."""


def setting(default, help, lower=None, *, upper=None, above=None, choices=None):
  """A field of a settings class: its default, help and bounds (inclusive
  `lower` and `upper`, exclusive `above`), or its `choices`."""
  return dataclasses.field(default=default, metadata=dict(
      help=help, lower=lower, upper=upper, above=above, choices=choices))


def _check(settings):
  """SettingError for the first field of `settings` out of its bounds."""
  for field in dataclasses.fields(settings):
    value, meta = getattr(settings, field.name), field.metadata
    if value is None or isinstance(value, bool):
      continue
    if meta['choices'] and value not in meta['choices']:
      problem = 'is not one of %s' % ', '.join(meta['choices'])
    elif meta['lower'] is not None and value < meta['lower']:
      problem = 'is less than %s' % meta['lower']
    elif meta['upper'] is not None and value > meta['upper']:
      problem = 'is more than %s' % meta['upper']
    elif meta['above'] is not None and value <= meta['above']:
      problem = 'must be greater than %s' % meta['above']
    else:
      continue
    raise SettingError('--%s=%s %s' % (field.name, value, problem))


@dataclasses.dataclass(frozen=True)
class Recipe:
  """What is trained, and how; `res_mnist.py --help` lists the same."""
  # The network and its options (docs/zoo.md)
  net: str = setting('resnet', 'The network (docs/zoo.md). To the scripts '
                     'that read a model: if given, the network its model.json '
                     'must name.')
  dataset: str = setting('mnist', 'Which data to train on: MNIST digits or '
                         'Zalando\'s Fashion-MNIST (same format, 10 kinds of '
                         'clothing).', choices=tuple(sorted(
                             input_data.DATASETS)))
  batch_norm: bool = setting(False, 'Batch norm after every convolution (not '
                             'in the original; for resnet, vgg16 and '
                             'inception).')
  stray_bias: bool = setting(False, 'bottleneck_resnet only: put back article '
                             '001\'s extra bias after each unit\'s sum (its '
                             'failure).')
  canonical_bottleneck: bool = setting(
      False, 'bottleneck_resnet only: the canonical bottleneck unit (batch '
      'norm, no ReLU before the sum, He init) instead of the article\'s.')
  he_init: bool = setting(False, 'bottleneck_resnet only: He init and zero '
                          'biases in every layer, the fully connected head '
                          'too, instead of the article\'s '
                          'truncated_normal(0.1) and 0.1.')
  # Optimisation; the defaults are the original's
  batch_size: int = setting(100, 'Images per training step.', lower=1)
  learning_rate: float = setting(0.003, 'Initial learning rate of Adam.',
                                 above=0)
  lr_schedule: str = setting(
      'exponential', 'exponential: the original exponential_decay; cosine: '
      'linear warm-up, then cosine decay to 0 at --max_steps; constant: '
      '--learning_rate throughout.',
      choices=('exponential', 'cosine', 'constant'))
  learning_rate_decay: float = setting(
      0.97, 'Factor of exponential_decay per --decay_steps.', above=0)
  decay_steps: int = setting(200, 'Steps of exponential_decay.', lower=1)
  warmup_steps: int = setting(0, 'Linear warm-up steps of the cosine '
                              'schedule.', lower=0)
  max_steps: int = setting(500, 'Global step at which training stops.',
                           lower=1)
  epochs: float = setting(0.0, 'If > 0, train for this many epochs of the '
                          'training split instead of --max_steps.', lower=0)
  validation_size: int = setting(5000, 'Training images held out, the first '
                                 'ones, as in TF1.', lower=0)
  weight_decay: float = setting(0.0, 'L2 weight decay of the conv and fully '
                                'connected weights (the original had 0.0001 '
                                'commented out).', lower=0)
  augment: bool = setting(False, 'Random shifts, rotations and scaling of the '
                          'training images; on Fashion-MNIST, left-right '
                          'flips and whole-pixel shifts instead (a mirrored '
                          'shoe is a shoe, a mirrored 2 is not a 2).')
  elastic: float = setting(
      0.0, 'Elastic distortion of the training images (Simard et al. 2003): '
      'each pixel moved by a random field smoothed by a Gaussian of 4 '
      'pixels, scaled by this (Simard: 34), after --augment\'s; 0: none.',
      lower=0)
  cutout: int = setting(0, 'Side in pixels of a square of zeros put at a '
                        'random place of each training image (Cutout, DeVries '
                        'and Taylor 2017); 0: none.', lower=0,
                        upper=input_data.IMAGE_SIZE)
  random_erasing: float = setting(
      0.0, 'Probability that a training image gets a rectangle of random '
      'noise (Random Erasing, Zhong et al. 2017: 2-40% of the image, aspect '
      'ratio 0.3-3.3, at a random place); 0: none.', lower=0, upper=1)
  precise_batch_norm: int = setting(
      0, 'After the last step, run this many more training batches forward '
      'with the weights frozen, so that batch norm\'s moving averages (what '
      'evaluation uses) describe the final weights, not those of the last '
      '~100 steps; 0: not. For short runs at a high rate (docs/zoo.md).',
      lower=0)
  label_smoothing: float = setting(
      0.0, 'Train on targets that give this share of each label\'s '
      'probability evenly to the 10 classes (0.1: 0.91 to the label, 0.01 to '
      'each other class); 0: one-hot, as the original.', lower=0, upper=0.5)
  moving_average_decay: float = setting(
      0.0, 'If > 0, keep an exponential moving average of the weights '
      '(tf.train.ExponentialMovingAverage, this decay per step, less in the '
      'first steps); validation, evaluation, prediction and export then use '
      'the averaged weights. 0: none.', lower=0, upper=0.99999)
  swa_start: float = setting(
      0.0, 'If > 0, stochastic weight averaging (Izmailov et al. 2018): from '
      'this fraction of the run on, the learning rate stays at the value the '
      'schedule has there, and validation, evaluation, prediction and export '
      'use the plain mean of the weights after every step since. 0: none.',
      lower=0, upper=0.99)
  seed: Optional[int] = setting(None, 'Seed of the weights, dropout and data '
                                'order; unset: a different run each time.')
  # Speed (docs/speed.md)
  bfloat16: bool = setting(False, 'Compute in bfloat16 where it is safe '
                           '(oneDNN auto mixed precision; weights stay '
                           'float32). Fast on CPUs with AVX512_BF16 or AMX.')
  towers: int = setting(1, 'Split each training batch into this many towers '
                        '(copies of the network sharing its weights) that run '
                        'side by side, one core each (docs/speed.md). Each '
                        'tower draws its own dropout masks, so a --seed gives '
                        'another run than with 1. With batch norm only where '
                        'each tower normalises its own slice (sprint_cnn).',
                        lower=1)
  threads: int = setting(0, 'Intra-op threads per kernel; 0: one per core, or '
                         '1 with --towers > 1.', lower=0)
  fast: bool = setting(False, 'Choose --towers and --bfloat16 for this CPU '
                       '(those not given): bfloat16 only where the CPU has it '
                       'in hardware, one tower per core unless the network '
                       'has batch norm (but sprint_cnn) or is slower in '
                       'towers. Prints what it '
                       'chose and why. A seed gives other numbers than '
                       'without it (docs/speed.md).')

  def __post_init__(self):
    _check(self)

  def with_epochs(self, num_examples):
    """This recipe with `max_steps` set to `epochs` passes over
    `num_examples` images (unchanged if `epochs` is 0)."""
    if not self.epochs:
      return self
    return dataclasses.replace(self, max_steps=int(math.ceil(
        self.epochs * num_examples / self.batch_size)))

  def as_dict(self):
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class LoopSettings:
  """Where a training run writes, and how often it logs, saves, validates."""
  model_dir: str = setting('model', 'Directory of the checkpoints.')
  model_name: str = setting('my_model', 'Checkpoint file prefix: '
                            '<model_dir>/<model_name>-<step>.')
  log_every: int = setting(50, 'Steps between log lines.', lower=1)
  eval_every: int = setting(0, 'Steps between validation evaluations; the '
                            'best checkpoint is kept in <model_dir>/best. 0: '
                            'evaluate only at the end.', lower=0)
  report_test: bool = setting(False, 'At each --eval_every evaluation also '
                              'print and record the test accuracy (to report '
                              'it, e.g. the time to reach 99%; it never '
                              'chooses anything).')
  save_every: int = setting(100, 'Steps between checkpoints (one is also '
                            'written at the end).', lower=1)
  max_to_keep: int = setting(5, 'Most recent checkpoints kept.', lower=1)
  fresh: bool = setting(False, 'Ignore checkpoints in --model_dir and start '
                        'from step 0 (later saves overwrite them).')

  def __post_init__(self):
    _check(self)


# The best recipe measured (docs/results.md), the fastest to 99%
# (docs/speed.md), and each companion article's own (docs/zoo.md), with its
# defects fixed: dropout off and batches when evaluating, the loss from
# logits, selection on the validation split, never the test set. Keys are
# fields of Recipe or LoopSettings.
PRESETS = {
    'best': dict(batch_norm=True, augment=True, lr_schedule='cosine',
                 learning_rate=0.003, warmup_steps=500, weight_decay=5e-5,
                 epochs=25, eval_every=550, save_every=550, log_every=550,
                 fast=True),
    # 0.65 epoch, annealed to 0 within it; augmentation and label smoothing
    # pay even that early.
    'fast': dict(augment=True, lr_schedule='cosine', learning_rate=0.005,
                 warmup_steps=30, weight_decay=5e-5, epochs=0.65,
                 label_smoothing=0.1, save_every=1000, fast=True),
    # 99% in the least training time: a small batch-norm CNN
    # (nets/sprint_cnn.py) for 1.1 epochs at a high rate, annealed to 0
    # within them. The last checkpoint is reported: nothing is selected, so
    # every training image is trained on (the settings were chosen on the
    # validation split). --fast: bfloat16 where the CPU has it (a fifth
    # faster on AVX512_BF16, as accurate) and a tower per core, each
    # normalising its own slice (a fifth faster again, as accurate).
    'sprint': dict(net='sprint_cnn', batch_size=128, lr_schedule='cosine',
                   learning_rate=0.08, warmup_steps=100, epochs=1.1,
                   label_smoothing=0.1, validation_size=0, log_every=100,
                   save_every=1000, fast=True),
    # The best Fashion-MNIST within an hour of 2 AVX2 cores
    # (docs/results.md): a wide ResNet shaped for 28x28 (nets/wide_resnet.py),
    # flips, shifts and Random Erasing, 20 epochs (53 min on Zen 3).
    'fashion_hour': dict(net='wide_resnet', dataset='fashion_mnist',
                         batch_size=128, augment=True, random_erasing=0.5,
                         lr_schedule='cosine', learning_rate=0.003,
                         warmup_steps=300, weight_decay=5e-5,
                         label_smoothing=0.1, epochs=20, eval_every=430,
                         save_every=430, log_every=430),
    # The post's ResNet at 99.70% within an hour of 2 cores
    # (docs/results.md): no batch norm, so that --fast may train two towers
    # (one per core) and the weights may be averaged (SWA); 35 epochs of all
    # 60,000 images at 0.001 (0.003 diverged), the rate held from 75% of
    # the run on while the weights are averaged (0.75: the one value tried).
    # The last checkpoint is reported: nothing is selected, so every image
    # is trained on.
    'mnist_hour': dict(augment=True, lr_schedule='cosine', learning_rate=0.001,
                       warmup_steps=500, weight_decay=5e-5, epochs=35,
                       label_smoothing=0.1, swa_start=0.75, validation_size=0,
                       save_every=600, log_every=600, fast=True),
    'article001': dict(net='bottleneck_resnet', lr_schedule='constant',
                       learning_rate=1e-3, batch_size=10, max_steps=3001,
                       log_every=100, save_every=1000),
    'article002': dict(net='resnet18', dataset='fashion_mnist',
                       lr_schedule='constant', learning_rate=1e-3,
                       batch_size=32, epochs=1, log_every=100,
                       save_every=500, precise_batch_norm=300,
                       # The article's epoch: all 60,000 images, 1,875
                       # steps. One epoch, the last checkpoint reported:
                       # nothing is selected, so no split is held out.
                       validation_size=0),
    'article003_deep_mnist': dict(net='deep_mnist', lr_schedule='constant',
                                  learning_rate=1e-4, batch_size=100,
                                  max_steps=10000, log_every=500,
                                  save_every=1000),
    'article003_lenet5': dict(net='lenet5', lr_schedule='constant',
                              learning_rate=1e-3, batch_size=64, epochs=10,
                              log_every=500, save_every=1000),
}


def _define_flag(field, choices=None):
  if field.name in flags.FLAGS:
    return  # declared here already, for another script of this process
  meta = field.metadata
  kind = typing.get_args(field.type)[0] if typing.get_args(
      field.type) else field.type
  choices = choices or meta['choices']
  if choices:
    flags.DEFINE_enum(field.name, field.default, list(choices), meta['help'])
  elif kind is bool:
    flags.DEFINE_bool(field.name, field.default, meta['help'])
  elif kind is str:
    flags.DEFINE_string(field.name, field.default, meta['help'])
  else:
    define = flags.DEFINE_integer if kind is int else flags.DEFINE_float
    define(field.name, field.default, meta['help'], lower_bound=meta['lower'],
           upper_bound=meta['upper'])
    if meta['above'] is not None:
      flags.register_validator(field.name,
                               lambda value, above=meta['above']: value > above,
                               message='must be greater than %s' % meta['above'])


def define_flags(settings_class, choices=None, only=None):
  """Defines a flag for each field of `settings_class` (Recipe or
  LoopSettings), or for those named in `only`; `choices` maps a field name
  to its allowed values where the library cannot know them (`net`: the
  factory's networks)."""
  for field in dataclasses.fields(settings_class):
    if only is None or field.name in only:
      _define_flag(field, (choices or {}).get(field.name))
  if (settings_class is Recipe and only is None
      and 'preset' not in flags.FLAGS):
    flags.DEFINE_enum('preset', None, list(PRESETS), 'A recipe: best '
                      '(docs/results.md), fast (99% in the least training '
                      'time with the post\'s ResNet, docs/speed.md), sprint '
                      '(99% in about an epoch of a small batch-norm CNN, '
                      'sprint_cnn, in seconds), fashion_hour and mnist_hour '
                      '(the best within an hour of 2 cores) or a companion '
                      'article\'s (docs/zoo.md); flags given explicitly '
                      'override it.')


def apply_preset(values):
  """Sets `values.preset`'s settings, except those given on the command line."""
  for name, value in PRESETS.get(values.preset, {}).items():
    if not values[name].present:
      values[name].value = value


def from_flags(settings_class, values, **changes):
  """A `settings_class` of the parsed flags `values`, with `changes`."""
  fields = {field.name: values[field.name].value
            for field in dataclasses.fields(settings_class)}
  fields.update(changes)
  return settings_class(**fields)


FIELDS = tuple(field.name for field in dataclasses.fields(Recipe))
