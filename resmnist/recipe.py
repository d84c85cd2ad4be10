"""The settings of one training run, as one value.

`res_mnist.py` makes a `Recipe` from its flags in `main` and passes it down;
the graph builders read nothing else. The defaults are the original blog's
run (batch 100, Adam on `exponential_decay(0.003, step, 200, 0.97)`, 500
steps), so `Recipe()` is that run.
"""
import dataclasses
import math
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Recipe:
  """What is trained, and how.

  Attributes:
    net: the network, a name of `nets_factory.networks_map`.
    dataset: 'mnist' or 'fashion_mnist' (`input_data.DATASETS`).
    batch_norm: batch norm after every convolution (changes the variables;
      for the networks that have it as an option).
    stray_bias: `bottleneck_resnet` only: article 001's extra bias after
      each unit's sum, to reproduce its failure.
    canonical_bottleneck: `bottleneck_resnet` only: the canonical unit
      (batch norm, no ReLU before the sum, He init) instead of the article's.
    he_init: `bottleneck_resnet` only: He initialisation and zero biases in
      every layer, the fully connected head too.
    batch_size: images per training step.
    learning_rate: initial rate of Adam.
    lr_schedule: 'exponential' (the original's `exponential_decay`),
      'cosine' (linear warm-up, then cosine decay to 0 at `max_steps`) or
      'constant' (the companion articles').
    learning_rate_decay: factor of `exponential_decay` per `decay_steps`.
    decay_steps: steps of `exponential_decay`.
    warmup_steps: linear warm-up steps of the cosine schedule.
    max_steps: global step at which training stops.
    weight_decay: L2 decay of the conv and fully connected weights.
    augment: random shifts, rotations and scaling of the training images;
      where the dataset allows flips (Fashion-MNIST), left-right flips and
      whole-pixel shifts instead.
    cutout: side in pixels of a square of zeros put at a random place of
      each training image (after `augment`'s distortions); 0: none.
    precise_batch_norm: after the last step, run this many more training
      batches forward with the weights frozen, so that batch norm's moving
      averages describe the final weights (Wu and Johnson 2021, "precise
      BN"); 0: not.
    label_smoothing: train on targets that give this much of each label's
      probability evenly to all classes (Szegedy et al. 2016); 0: the
      original's one-hot targets.
    seed: graph-level seed (weights, dropout, augmentation) and data order;
      None gives a different run each time.
    towers: split each batch into this many towers that share the weights
      (`inference_in_towers`); each draws its own dropout masks.
    bfloat16: oneDNN's bfloat16 auto mixed precision.
    threads: intra-op threads per kernel; 0: `runtime.session_config`'s
      default.
  """
  net: str = 'resnet'
  dataset: str = 'mnist'
  batch_norm: bool = False
  stray_bias: bool = False
  canonical_bottleneck: bool = False
  he_init: bool = False
  batch_size: int = 100
  learning_rate: float = 0.003
  lr_schedule: str = 'exponential'
  learning_rate_decay: float = 0.97
  decay_steps: int = 200
  warmup_steps: int = 0
  max_steps: int = 500
  weight_decay: float = 0.0
  augment: bool = False
  cutout: int = 0
  precise_batch_norm: int = 0
  label_smoothing: float = 0.0
  seed: Optional[int] = None
  towers: int = 1
  bfloat16: bool = False
  threads: int = 0

  def with_epochs(self, epochs, num_examples):
    """This recipe with `max_steps` set to `epochs` passes over the data."""
    return dataclasses.replace(
        self, max_steps=int(math.ceil(epochs * num_examples / self.batch_size)))

  def as_dict(self):
    return dataclasses.asdict(self)

  def net_options(self):
    """Keyword arguments of the network function; ValueError if `net` lacks
    one that is set."""
    from nets import nets_factory  # the networks pull in TensorFlow
    return nets_factory.network_options(
        self.net, batch_norm=self.batch_norm, stray_bias=self.stray_bias,
        canonical_bottleneck=self.canonical_bottleneck, he_init=self.he_init)


FIELDS = tuple(field.name for field in dataclasses.fields(Recipe))
