"""A network as this package trains and loads it: the glue between
`nets_factory`'s networks and the library.

    from nets import models
    info = models.describe(recipe)               # what model.json will say
    network_fn = models.training_network_fn(recipe)
    with models.load_model('model') as model:    # a trained model dir
      probabilities = model.predict(images)      # [N, 784] in [0, 1]

In tf-slim this glue lives in `train_image_classifier.py`; here several
scripts share it (training, evaluation, prediction, export, serving), so it
is this one module. The library (`resmnist/`) imports no network: it is
handed the network functions made here.
"""
from nets import nets_factory
from resmnist import loader
from resmnist import model_dir
from resmnist import runtime
from resmnist.recipe import SettingError

# The Recipe fields that are some network's option (`Network.options`).
OPTION_FIELDS = sorted({field for entry in nets_factory.NETWORKS.values()
                        for field in entry.options})


def network_options(recipe):
  """The keyword arguments of `recipe.net`'s function that its flags set:
  every option the network has (so that `model.json` says, e.g., that a
  `resnet` was trained without batch norm).

  Raises:
    recipe.SettingError (a ValueError): an option is set that the network
      does not have, or towers with batch norm where they would race to
      update its moving averages.
  """
  entry = nets_factory.network(recipe.net)
  for field in OPTION_FIELDS:
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
  batch_norm = nets_factory.network(name).batch_norm
  if isinstance(batch_norm, str):
    return bool(options.get(batch_norm, False))
  return batch_norm


def describe(recipe):
  """The `model_dir.ModelInfo` of the network that `recipe` trains."""
  options = network_options(recipe)
  return model_dir.ModelInfo(
      net=recipe.net, batch_norm=has_batch_norm(recipe.net, options),
      net_options=options, dataset=recipe.dataset, recipe=recipe.as_dict())


def training_network_fn(recipe):
  """`recipe.net` as it trains: dropout and batch statistics on, its
  options, weight decay and towers."""
  return nets_factory.get_network_fn(
      recipe.net, weight_decay=recipe.weight_decay, is_training=True,
      towers=recipe.towers, **network_options(recipe))


def eval_network_fn(info, towers=1):
  """The network of `info` (a ModelInfo) as it evaluates, in `towers`."""
  return nets_factory.get_network_fn(info.net, info.num_classes,
                                     towers=towers, **info.net_options)


def evaluator(info, config, data):
  """The `loader.EvalModel` that validates a training run of `info` and
  reads `data`'s test split, in a session of `config` (the training's: one
  process has one set of thread pools), in as many towers as evaluating
  the larger split is fastest in (100 images need fewer towers than
  10,000)."""
  images = max(data.validation.num_examples, data.test.num_examples)
  towers = nets_factory.eval_towers(
      info.net, min(images, runtime.EVAL_BATCH_SIZE))
  return loader.EvalModel(info, eval_network_fn(info, towers), config)


def load_model(directory, checkpoint_path=None, *, towers=1, config=None,
               log=print, net=None, eval_batch_size=None, averaged=True,
               calibrated=True):
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
    calibrated: the probabilities of the logits divided by the model's
      temperature, where it has one; False: as trained.
    averaged: the weights' averages where the checkpoint has them
      (`--moving_average_decay`, `--swa_start`); False: the weights
      themselves.

  Raises:
    checkpoints.CheckpointError, model_dir.ModelDirError: as `loader.load`;
      ModelDirError too if the model is of a network not in `NETWORKS`.
  """
  def network_fn_of(info):
    if info.net not in nets_factory.NETWORKS:
      raise model_dir.ModelDirError(
          '%s holds a %r, a network this package does not have (it has %s)'
          % (directory, info.net, ', '.join(sorted(nets_factory.NETWORKS))))
    chosen = (nets_factory.eval_towers(info.net, eval_batch_size)
              if eval_batch_size else towers)
    return eval_network_fn(info, chosen), chosen

  return loader.load(directory, network_fn_of, checkpoint_path, config=config,
                     log=log, net=net, averaged=averaged,
                     calibrated=calibrated)


def fast_settings(recipe):
  """--fast for `recipe` on this CPU: (towers, bfloat16, why)."""
  entry = nets_factory.network(recipe.net)
  return runtime.fast_settings(
      has_batch_norm(recipe.net, network_options(recipe))
      and not entry.ghost_batch_norm,
      slower_in_towers=not entry.towers_help)
