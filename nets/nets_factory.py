"""The networks of this package by name; the one module that joins the
networks to the library.

    from nets import nets_factory
    network_fn = nets_factory.get_network_fn('lenet5', num_classes=10,
                                             is_training=True)
    logits, end_points = network_fn(images)   # [batch, 28, 28, 1] or [batch, 784]

    with nets_factory.load_model('model') as model:   # a trained model dir
      probabilities = model.predict(images)           # [N, 784] in [0, 1]

A network is its file in `nets/` (or `res_mnist_inference.py` for the
post's ResNet) and one entry of `NETWORKS`, which holds everything the rest
of the package needs to know of it. The library (`resmnist/`) imports no
network: it is handed network functions made here, from a `Recipe`
(`network_fns`) or from a model directory's `model.json` (`load_model`).

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
from resmnist import loader
from resmnist import model_dir
from resmnist import runtime
from resmnist import towers as towers_lib
from resmnist.input_data import IMAGE_SIZE, NUM_CLASSES
from resmnist.recipe import SettingError

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
#     averages; measured as accurate (docs/speed.md). Without it, --towers
#     with batch norm is refused.
Network = collections.namedtuple(
    'Network', 'fn arg_scope options batch_norm batch_norm_decay towers_help '
    'eval_tower_size image_size splits_batch ghost_batch_norm')

# Batch norm's moving-average updates of the towers after the first: a
# collection that nothing runs, so that no two towers race to update them.
LATER_TOWERS_UPDATES = 'later_towers_batch_norm_updates'


def _network(fn, arg_scope, options=None, batch_norm=False,
             batch_norm_decay=0.99, towers_help=True, eval_tower_size=0,
             image_size=IMAGE_SIZE, splits_batch=False, ghost_batch_norm=False):
  return Network(fn, arg_scope, options or {}, batch_norm, batch_norm_decay,
                 towers_help, eval_tower_size, image_size, splits_batch,
                 ghost_batch_norm)


NETWORKS = {
    'resnet': _network(
        res_mnist_inference.resnet, res_mnist_inference.resnet_arg_scope,
        {'batch_norm': 'batch_norm'}, 'batch_norm',
        res_mnist_inference.BATCH_NORM_DECAY, splits_batch=True,
        eval_tower_size=runtime.EVAL_TOWER_SIZE),
    'bottleneck_resnet': _network(
        bottleneck_resnet.bottleneck_resnet,
        bottleneck_resnet.bottleneck_resnet_arg_scope,
        {'stray_bias': 'stray_bias', 'canonical_bottleneck': 'canonical',
         'he_init': 'he_init'}, 'canonical', bottleneck_resnet.BATCH_NORM_DECAY,
        towers_help=False),
    'resnet18': _network(resnet18.resnet18, resnet18.resnet18_arg_scope,
                         batch_norm=True,
                         batch_norm_decay=resnet18.BATCH_NORM_DECAY),
    'lenet5': _network(lenet5.lenet5, lenet5.lenet5_arg_scope),
    'deep_mnist': _network(deep_mnist.deep_mnist,
                           deep_mnist.deep_mnist_arg_scope),
    'vgg16': _network(vgg16.vgg16, vgg16.vgg16_arg_scope,
                      {'batch_norm': 'batch_norm'}, 'batch_norm',
                      vgg16.BATCH_NORM_DECAY, towers_help=False),
    'inception': _network(inception.inception, inception.inception_arg_scope,
                          {'batch_norm': 'batch_norm'}, 'batch_norm',
                          inception.BATCH_NORM_DECAY),
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


def get_network_fn(name, num_classes=NUM_CLASSES, weight_decay=0.0,
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
    1]` in [0, 1]. It has the attributes `default_image_size` and
    `towers`.

  Raises:
    ValueError: `name` is not a known network (and `network_fn` raises it
      for images that are not 28x28).
  """
  entry = network(name)

  def call(images, **more):
    # A tower that reuses the first's variables leaves the moving averages
    # to it (`ghost_batch_norm`).
    later_tower = {'updates_collections': [LATER_TOWERS_UPDATES]} if (
        tf.get_variable_scope().reuse and towers > 1) else {}
    with slim.arg_scope(entry.arg_scope(weight_decay=weight_decay)), \
        slim.arg_scope([slim.batch_norm], **later_tower):
      return entry.fn(images, num_classes=num_classes,
                      is_training=is_training, **options, **more)

  @functools.wraps(entry.fn)
  def network_fn(images):
    if entry.splits_batch:
      return call(images, towers=towers)
    if towers == 1:
      return call(_reshaped(name, images, entry.image_size))
    logits = towers_lib.in_towers(
        lambda x: call(_reshaped(name, x, entry.image_size))[0], images,
        towers)
    return logits, {'Logits': logits}
  network_fn.default_image_size = entry.image_size
  network_fn.towers = towers
  return network_fn


def network_options(recipe):
  """The keyword arguments of `recipe.net`'s function that its flags set:
  every option the network has (so that `model.json` says, e.g., that a
  `resnet` was trained without batch norm).

  Raises:
    recipe.SettingError (a ValueError): an option is set that the network
      does not have, or towers with batch norm where they would race to
      update its moving averages.
  """
  entry = network(recipe.net)
  for field in ('batch_norm', 'stray_bias', 'canonical_bottleneck',
                'he_init'):
    if getattr(recipe, field) and field not in entry.options:
      raise SettingError('--%s is not an option of --net=%s'
                         % (field, recipe.net))
  options = {keyword: getattr(recipe, field)
             for field, keyword in entry.options.items()}
  if (recipe.towers > 1 and has_batch_norm(recipe.net, options)
      and not entry.ghost_batch_norm):
    raise SettingError(
        '--towers=%d does not go with %s (towers would race to update its '
        'moving averages); use --towers=1'
        % (recipe.towers, '--batch_norm' if recipe.batch_norm else
           '--net=%s, which has batch norm' % recipe.net))
  return options


def has_batch_norm(name, options):
  """True if network `name` built with `options` has batch norm layers."""
  batch_norm = network(name).batch_norm
  if isinstance(batch_norm, str):
    return bool(options.get(batch_norm, False))
  return batch_norm


def model_info(recipe):
  """What `model.json` says of the network that `recipe` trains."""
  options = network_options(recipe)
  return model_dir.model_info(recipe.net, options, recipe.dataset,
                              has_batch_norm(recipe.net, options),
                              recipe.as_dict())


def _eval_network_fn(info, towers):
  return get_network_fn(info['net'], info.get('num_classes', NUM_CLASSES),
                        towers=towers, **model_dir.net_options(info))


def network_fns(recipe):
  """The training and the evaluation network functions of `recipe`, for
  `trainer.train`; the evaluation one in `runtime.eval_towers` towers."""
  entry = network(recipe.net)
  options = network_options(recipe)
  network_fn = get_network_fn(recipe.net, NUM_CLASSES, recipe.weight_decay,
                              is_training=True, towers=recipe.towers,
                              **options)
  network_fn.batch_norm_decay = entry.batch_norm_decay
  towers = runtime.eval_towers(runtime.EVAL_BATCH_SIZE, entry.eval_tower_size)
  return network_fn, _eval_network_fn(model_info(recipe), towers)


def load_model(directory, checkpoint_path=None, towers=1, config=None,
               log=print, net=None, eval_batch_size=None, averaged=True):
  """The `loader.EvalModel` of a model directory's latest (or the given)
  checkpoint: the network its `model.json` names, restored.

  Args:
    towers: split each batch into this many towers (same results).
    config: the session's `tf.ConfigProto`; default
      `runtime.session_config(towers)`.
    log: where a note on a damaged checkpoint state file goes.
    net: if given, the network the model must be (a `--net` flag).
    eval_batch_size: if given, `towers` is chosen for evaluating batches
      of that many images (`runtime.eval_towers`).
    averaged: the weights' moving averages where the checkpoint has them
      (`--moving_average_decay`); False: the weights themselves.

  Raises:
    checkpoints.CheckpointError, model_dir.ModelDirError: as `loader.load`;
      ModelDirError too if the model is of a network not in `NETWORKS`.
  """
  def network_fn_of(info):
    if info['net'] not in NETWORKS:
      raise model_dir.ModelDirError(
          '%s holds a %r, a network this package does not have (it has %s)'
          % (directory, info['net'], ', '.join(sorted(NETWORKS))))
    if eval_batch_size:
      return _eval_network_fn(info, runtime.eval_towers(
          eval_batch_size, network(info['net']).eval_tower_size))
    return _eval_network_fn(info, towers)

  return loader.load(directory, network_fn_of, checkpoint_path, config, log,
                     net, averaged)


def fast_settings(recipe):
  """--fast for `recipe` on this CPU: (towers, bfloat16, why)."""
  entry = network(recipe.net)
  return runtime.fast_settings(
      has_batch_norm(recipe.net, network_options(recipe))
      and not entry.ghost_batch_norm,
      slower_in_towers=not entry.towers_help)
