"""The networks of this package by name, as tf-slim's `nets_factory`.

    from nets import nets_factory
    network_fn = nets_factory.get_network_fn('lenet5', num_classes=10,
                                             is_training=True)
    logits, end_points = network_fn(images)   # [batch, 28, 28, 1] or [batch, 784]

A network is its file in `nets/` (or `res_mnist_inference.py` for the
post's ResNet) and one entry of `NETWORKS`, which holds everything the rest
of the package needs to know of it. `nets/models.py` joins them to the
library (a `Recipe`'s network functions, a model directory loaded).

| name | network | trainable parameters |
| --- | --- | --- |
| `resnet` | the ResNet of the post (`res_mnist_inference.inference`) | 890,466 |
| `bottleneck_resnet` | article 001's bottleneck ResNet | 13,070,794 |
| `resnet18` | article 002's Keras ResNet18, CIFAR-style stem | 11,172,810 |
| `lenet5` | LeNet-5 as article 003's text draws it | 61,706 |
| `deep_mnist` | article 003's "AlexNet" code: TF's Deep-MNIST net | 3,274,634 |
| `vgg16` | VGG16's 13 convolutions on digits padded to 32x32 | 15,243,978 |
| `inception` | GoogLeNet-style Inception modules sized for 28x28 | 1,045,162 |
| `sprint_cnn` | a small batch-norm CNN, 99% in one epoch | 44,986 |
| `wide_resnet` | a wide pre-activation ResNet shaped for 28x28 | 1,208,938 |
"""
import collections
import functools

from resmnist import slim
import tensorflow.compat.v1 as tf

from nets import bottleneck_resnet
from nets import deep_mnist
from nets import inception
from nets import lenet5
from nets import resnet18
from nets import sprint_cnn
from nets import vgg16
from nets import wide_resnet
import res_mnist_inference
from resmnist import runtime
from resmnist import towers as towers_lib
from resmnist.input_data import IMAGE_SIZE, NUM_CLASSES

# What the package needs to know of a network:
#   fn, arg_scope: the network function `fn(images, num_classes, is_training,
#     **options)` -> (logits, end_points), and its arg scope (weight_decay=).
#   options: {Recipe field: keyword of `fn`} of the options it has.
#   batch_norm: whether it has batch norm layers: True, False, or the keyword
#     of the option that adds them.
#   batch_norm_decay: the decay of its moving averages (--precise_batch_norm
#     weighs its batches by it).
#   towers_help: one tower per core trains faster than one graph (--fast);
#     measured not to for the two largest (docs/speed.md).
#   eval_tower_size: most images per evaluation tower; 0: one tower per core.
#   image_size: the side of the square images it reads.
#   splits_batch: `fn` takes `towers` itself (the post's ResNet, whose graph
#     and seeds stay as its `inference_in_towers` builds them).
#   ghost_batch_norm: it trains in towers with its batch norm, each tower
#     normalising by its own slice and the first alone updating the moving
#     averages (`towers.in_towers`); measured as accurate (docs/speed.md).
#     Without it, --towers with batch norm is refused.
Network = collections.namedtuple(
    'Network', 'fn arg_scope options batch_norm batch_norm_decay towers_help '
    'eval_tower_size image_size splits_batch ghost_batch_norm')

def _network(fn, arg_scope, options=None, *, batch_norm=False,
             batch_norm_decay=0.99, towers_help=True, eval_tower_size=0,
             image_size=IMAGE_SIZE, splits_batch=False, ghost_batch_norm=False):
  return Network(fn, arg_scope, options or {}, batch_norm, batch_norm_decay,
                 towers_help, eval_tower_size, image_size, splits_batch,
                 ghost_batch_norm)


NETWORKS = {
    'resnet': _network(
        res_mnist_inference.resnet, res_mnist_inference.resnet_arg_scope,
        {'batch_norm': 'batch_norm'}, batch_norm='batch_norm',
        batch_norm_decay=res_mnist_inference.BATCH_NORM_DECAY,
        splits_batch=True,
        eval_tower_size=runtime.EVAL_TOWER_SIZE),
    'bottleneck_resnet': _network(
        bottleneck_resnet.bottleneck_resnet,
        bottleneck_resnet.bottleneck_resnet_arg_scope,
        {'stray_bias': 'stray_bias', 'canonical_bottleneck': 'canonical',
         'he_init': 'he_init'}, batch_norm='canonical',
        batch_norm_decay=bottleneck_resnet.BATCH_NORM_DECAY, towers_help=False),
    'resnet18': _network(resnet18.resnet18, resnet18.resnet18_arg_scope,
                         batch_norm=True,
                         batch_norm_decay=resnet18.BATCH_NORM_DECAY),
    'lenet5': _network(lenet5.lenet5, lenet5.lenet5_arg_scope),
    'deep_mnist': _network(deep_mnist.deep_mnist,
                           deep_mnist.deep_mnist_arg_scope),
    'vgg16': _network(vgg16.vgg16, vgg16.vgg16_arg_scope,
                      {'batch_norm': 'batch_norm'}, batch_norm='batch_norm',
                      batch_norm_decay=vgg16.BATCH_NORM_DECAY,
                      towers_help=False),
    'inception': _network(inception.inception, inception.inception_arg_scope,
                          {'batch_norm': 'batch_norm'},
                          batch_norm='batch_norm',
                          batch_norm_decay=inception.BATCH_NORM_DECAY),
    'sprint_cnn': _network(sprint_cnn.sprint_cnn,
                           sprint_cnn.sprint_cnn_arg_scope, batch_norm=True,
                           batch_norm_decay=sprint_cnn.BATCH_NORM_DECAY,
                           ghost_batch_norm=True),
    'wide_resnet': _network(wide_resnet.wide_resnet,
                            wide_resnet.wide_resnet_arg_scope, batch_norm=True,
                            batch_norm_decay=wide_resnet.BATCH_NORM_DECAY),
}


def network(name):
  """The `Network` entry of `name`; ValueError if there is none."""
  if name not in NETWORKS:
    raise ValueError('unknown network %r; known: %s'
                     % (name, ', '.join(sorted(NETWORKS))))
  return NETWORKS[name]


def _reshaped(name, images, size):
  images = tf.convert_to_tensor(images)
  pixels = images.shape[1:].num_elements()
  if pixels is not None and pixels != size * size:
    raise ValueError('%s wants images of %d pixels ([batch, %d] or [batch, '
                     '%d, %d, 1]), got shape %s'
                     % (name, size * size, size * size, size, size,
                        images.shape))
  return tf.reshape(images, [-1, size, size, 1])


def get_network_fn(name, num_classes=NUM_CLASSES, weight_decay=0.0, *,
                   is_training=False, towers=1, **options):
  """A function from images to `(logits, end_points)` of network `name`.

  Args:
    name: a key of `NETWORKS`.
    num_classes: number of outputs.
    weight_decay: L2 decay of the network's weights (its arg scope says
      which).
    is_training: dropout and batch statistics on.
    towers: split each batch into this many copies of the network that
      share its weights (`towers.in_towers`); their end points are then
      only 'Logits'.
    **options: the network's own keywords (e.g. `batch_norm=True` for
      `resnet`, `stray_bias=True` for `bottleneck_resnet`).

  Returns:
    `network_fn(images)`: `images` float32 `[batch, 784]` or `[batch, 28, 28,
    1]` in [0, 1]. It has tf-slim's attribute `default_image_size`.

  Raises:
    ValueError: `name` is not a known network (and `network_fn` raises it
      for images that are not 28x28).
  """
  entry = network(name)

  def call(images, **more):
    return entry.fn(images, num_classes=num_classes, is_training=is_training,
                    **options, **more)

  @functools.wraps(entry.fn)
  def network_fn(images):
    with slim.arg_scope(entry.arg_scope(weight_decay=weight_decay)):
      if entry.splits_batch:
        return call(images, towers=towers)
      if towers == 1:
        return call(_reshaped(name, images, entry.image_size))
      logits = towers_lib.in_towers(
          lambda x: call(_reshaped(name, x, entry.image_size))[0], images,
          towers)
    return logits, {'Logits': logits}
  network_fn.default_image_size = entry.image_size
  return network_fn


def eval_towers(name, batch_size=runtime.EVAL_BATCH_SIZE):
  """Towers for evaluating network `name` on `batch_size` images a step."""
  return runtime.eval_towers(batch_size, network(name).eval_tower_size)
