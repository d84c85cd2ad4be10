"""The networks of this package by name, as tf-slim's `nets_factory`.

    from nets import nets_factory
    network_fn = nets_factory.get_network_fn('lenet5', num_classes=10,
                                             is_training=True)
    logits, end_points = network_fn(images)   # [batch, 28, 28, 1] or [batch, 784]

| name | network | trainable parameters |
| --- | --- | --- |
| `resnet` | the ResNet of the post (`res_mnist_inference.inference`) | 890,466 |
| `bottleneck_resnet` | article 001's bottleneck ResNet | 13,070,794 |
| `resnet18` | article 002's Keras ResNet18, CIFAR-style stem | 11,172,810 |
| `lenet5` | LeNet-5 as article 003's text draws it | 61,706 |
| `deep_mnist` | article 003's "AlexNet" code: TF's Deep-MNIST net | 3,274,634 |
| `vgg16` | VGG16's 13 convolutions on digits padded to 32x32 | 15,243,978 |
| `inception` | GoogLeNet-style Inception modules sized for 28x28 | 1,045,162 |
"""
import functools
import inspect

from resmnist import slim
import tensorflow.compat.v1 as tf

from nets import bottleneck_resnet
from nets import deep_mnist
from nets import inception
from nets import lenet5
from nets import resnet18
from nets import vgg16
import res_mnist_inference
from resmnist import towers as towers_lib

IMAGE_SIZE = 28


@slim.add_arg_scope
def resnet(images, num_classes=10, is_training=False, weight_decay=0.0,
           batch_norm=False):
  """The post's ResNet, graph and variable names as `inference` builds them.

  Returns:
    (logits, end_points), as tf-slim's networks do.

  Raises:
    ValueError: `num_classes` is not 10 (the original has 10 outputs).
  """
  if num_classes != res_mnist_inference.NUM_CLASSES:
    raise ValueError('resnet has %d classes, not %d'
                     % (res_mnist_inference.NUM_CLASSES, num_classes))
  logits = res_mnist_inference.inference(images, is_training=is_training,
                                         batch_norm=batch_norm,
                                         weight_decay=weight_decay)
  return logits, {'Logits': logits}


resnet.default_image_size = IMAGE_SIZE


def resnet_arg_scope(weight_decay=0.0):
  # `inference` takes its weight decay as an argument, not from a scope.
  with slim.arg_scope([resnet], weight_decay=weight_decay) as scope:
    return scope


networks_map = {
    'resnet': resnet,
    'bottleneck_resnet': bottleneck_resnet.bottleneck_resnet,
    'resnet18': resnet18.resnet18,
    'lenet5': lenet5.lenet5,
    'deep_mnist': deep_mnist.deep_mnist,
    'vgg16': vgg16.vgg16,
    'inception': inception.inception,
}

arg_scopes_map = {
    'resnet': resnet_arg_scope,
    'bottleneck_resnet': bottleneck_resnet.bottleneck_resnet_arg_scope,
    'resnet18': resnet18.resnet18_arg_scope,
    'lenet5': lenet5.lenet5_arg_scope,
    'deep_mnist': deep_mnist.deep_mnist_arg_scope,
    'vgg16': vgg16.vgg16_arg_scope,
    'inception': inception.inception_arg_scope,
}

# The decay of batch norm's moving averages in the networks that have it
# (--precise_batch_norm weighs its batches by it).
batch_norm_decays = {
    'resnet': res_mnist_inference.BATCH_NORM_DECAY,
    'bottleneck_resnet': bottleneck_resnet.BATCH_NORM_DECAY,
    'resnet18': resnet18.BATCH_NORM_DECAY,
    'vgg16': vgg16.BATCH_NORM_DECAY,
    'inception': inception.BATCH_NORM_DECAY,
}


def get_network_fn(name, num_classes, weight_decay=0.0, is_training=False):
  """A function from images to `(logits, end_points)` of network `name`.

  Args:
    name: a key of `networks_map`.
    num_classes: number of outputs.
    weight_decay: L2 decay of the network's weights (its arg scope says
      which).
    is_training: dropout and batch statistics on.

  Returns:
    `network_fn(images, **options)`: `images` float32 `[batch, 784]` or
    `[batch, 28, 28, 1]` in [0, 1]; `options` are the network's own (e.g.
    `batch_norm=True` for `resnet`, `stray_bias=True` for
    `bottleneck_resnet`). It has the attribute `default_image_size`.

  Raises:
    ValueError: `name` is not a known network (and `network_fn` raises it
      for images that are not 28x28).
  """
  if name not in networks_map:
    raise ValueError('unknown network %r; known: %s'
                     % (name, ', '.join(sorted(networks_map))))
  func = networks_map[name]

  @functools.wraps(func)
  def network_fn(images, **options):
    images = tf.convert_to_tensor(images)
    pixels = images.shape[1:].num_elements()
    if pixels is not None and pixels != IMAGE_SIZE * IMAGE_SIZE:
      raise ValueError('%s wants images of %d pixels ([batch, %d] or [batch, '
                       '%d, %d, 1]), got shape %s'
                       % (name, IMAGE_SIZE * IMAGE_SIZE, IMAGE_SIZE ** 2,
                          IMAGE_SIZE, IMAGE_SIZE, images.shape))
    images = tf.reshape(images, [-1, IMAGE_SIZE, IMAGE_SIZE, 1])
    with slim.arg_scope(arg_scopes_map[name](weight_decay=weight_decay)):
      return func(images, num_classes=num_classes, is_training=is_training,
                  **options)
  network_fn.default_image_size = func.default_image_size
  return network_fn


def network_options(name, batch_norm=False, stray_bias=False,
                    canonical_bottleneck=False, he_init=False):
  """The options of network `name` that the training flags set.

  Returns:
    A dict of keyword arguments for the network function, holding each
    option the network has (so `model.json` says, e.g., that a `resnet`
    was trained without batch norm).

  Raises:
    ValueError: an option is set that network `name` does not have.
  """
  parameters = inspect.signature(networks_map[name]).parameters
  options = {}
  for flag, option, value in (
      ('batch_norm', 'batch_norm', batch_norm),
      ('stray_bias', 'stray_bias', stray_bias),
      ('canonical_bottleneck', 'canonical', canonical_bottleneck),
      ('he_init', 'he_init', he_init)):
    if option in parameters:
      options[option] = value
    elif value:
      raise ValueError('--%s is not an option of --net=%s' % (flag, name))
  return options


# Measured slower in towers than as one graph (bench/results-avx2-NAME.md,
# 2 cores of an AMD EPYC: 208 against 257 images/s, and 46 against 48), so
# --fast trains them as one graph: each tower computes a gradient of every
# weight, and these two have the most weights (13.1 M and 15.2 M).
SLOWER_IN_TOWERS = ('bottleneck_resnet', 'vgg16')


def has_batch_norm(name, options):
  """True if network `name` built with `options` has batch norm layers."""
  return (name == 'resnet18' or options.get('batch_norm', False)
          or options.get('canonical', False))


def network_logits(name, images, towers=1, num_classes=10, weight_decay=0.0,
                   is_training=False, **options):
  """Logits of network `name` for `images`, split into `towers` towers.

  For `resnet` this is `res_mnist_inference.inference_in_towers` itself, so
  that the post's graph (and what a seed gives) stays as it was.
  """
  if name == 'resnet':
    if num_classes != res_mnist_inference.NUM_CLASSES:
      raise ValueError('resnet has %d classes, not %d'
                       % (res_mnist_inference.NUM_CLASSES, num_classes))
    return res_mnist_inference.inference_in_towers(
        images, towers, is_training=is_training, weight_decay=weight_decay,
        **options)
  network_fn = get_network_fn(name, num_classes, weight_decay, is_training)
  return towers_lib.in_towers(lambda x: network_fn(x, **options)[0], images,
                              towers)
