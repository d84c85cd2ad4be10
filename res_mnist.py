"""Trains the MNIST ResNet: `python res_mnist.py`.

The defaults are the original blog's run: batch 100, Adam with the rate
`exponential_decay(0.003, global_step, 200, 0.97)`, 500 steps, a log line
every 50 steps, checkpoints `model/my_model-<step>`. Unlike the original,
the decayed rate is the one Adam uses, dropout is on only for training
steps, and checkpoints are written every --save_every steps and at the end
instead of at every step. When --model_dir already holds a checkpoint,
training continues from its step up to --max_steps (--fresh starts over).
At the end it prints validation and test accuracy, dropout off.

`--preset=best` trains the most accurate recipe measured (docs/results.md:
batch norm, augmentation, cosine schedule, weight decay, model selection on
the validation split); `--preset=fast` reaches 99% soonest with the post's
ResNet (docs/speed.md: 0.65 epoch, annealed within it, smoothed labels),
`--preset=sprint` soonest of all (docs/results.md: a small batch-norm CNN);
any flag given on the command line overrides a preset.

This script reads the flags, makes the run's `Recipe` and `LoopSettings`
of them (each setting is declared once, in `resmnist/recipe.py`, with its
default, bounds and help: `--help` lists them) and calls
`resmnist.trainer.run` with the network functions that
`nets_factory.network_fns` makes of the recipe.

With --ps_hosts, --worker_hosts, --job_name and --task_index (or a TF_CONFIG
environment variable) it is one task of a TF1 cluster: parameter servers
hold the variables, every worker trains, worker 0 (the chief) checkpoints
(`resmnist/cluster.py`, docs/distributed.md; `res_mnist_cluster.py` starts
a cluster on this machine).
"""
from resmnist import cli
cli.start()  # before TensorFlow loads

import os  # noqa: E402

from absl import flags  # noqa: E402

from nets import nets_factory  # noqa: E402
from resmnist import cluster as clusters  # noqa: E402
from resmnist import common_flags  # noqa: E402
from resmnist import recipe as recipes  # noqa: E402
from resmnist import runtime  # noqa: E402
from resmnist import trainer  # noqa: E402
from resmnist.recipe import LoopSettings, Recipe  # noqa: E402

# The recipe and the loop: resmnist/recipe.py declares them
recipes.define_flags(Recipe, choices={'net': sorted(nets_factory.NETWORKS)})
recipes.define_flags(LoopSettings)
common_flags.define_data_flags()
# So that --help lists them beside this script's own.
flags.adopt_module_key_flags(recipes)
flags.adopt_module_key_flags(common_flags)

# Cluster: TF1 between-graph replication (docs/distributed.md)
flags.DEFINE_string('ps_hosts', None, 'Parameter servers, host:port,...; '
                    'with --worker_hosts and --job_name, this process is one '
                    'task of a cluster. Without them, TF_CONFIG is read; with '
                    'neither, training is one process.')
flags.DEFINE_string('worker_hosts', None, 'Workers, host:port,...; the first '
                    'is the chief, which checkpoints and validates. '
                    '--batch_size is per worker.')
flags.DEFINE_enum('job_name', None, ['ps', 'worker'], 'This task\'s job.')
flags.DEFINE_integer('task_index', 0, 'This task\'s index in its job.',
                     lower_bound=0)
flags.DEFINE_bool('sync_replicas', False, 'Average every worker\'s gradients '
                  'in each update (SyncReplicasOptimizer); default: each '
                  'worker updates as it goes (async).')
flags.DEFINE_integer('cluster_wait_secs', 120, 'How long a task waits for '
                     'another: a worker for the parameter servers and the '
                     'chief\'s initialisation, a parameter server for the '
                     'other workers to finish once the chief has.',
                     lower_bound=1)

FLAGS = flags.FLAGS


def _fast(recipe):
  """--fast: `recipe` with --towers and --bfloat16 for this CPU, where not
  given on the command line."""
  towers, bfloat16, why = nets_factory.fast_settings(recipe)
  if FLAGS['towers'].present:
    towers = recipe.towers
  if FLAGS['bfloat16'].present:
    bfloat16 = recipe.bfloat16
  given = [name for name in ('towers', 'bfloat16') if FLAGS[name].present]
  if given:
    why += '; --%s as given' % ' and --'.join(given)
  print('--fast on %s: --towers=%d --%sbfloat16 (%s)'
        % (runtime.cpu_model(), towers, '' if bfloat16 else 'no', why))
  return recipes.from_flags(Recipe, FLAGS, towers=towers, bfloat16=bfloat16)


def main(_):
  recipes.apply_preset(FLAGS)
  recipe = recipes.from_flags(Recipe, FLAGS)
  if recipe.fast:
    recipe = _fast(recipe)
  network_fn, eval_network_fn = nets_factory.network_fns(recipe)
  trainer.run(recipe, recipes.from_flags(LoopSettings, FLAGS), network_fn,
              eval_network_fn, nets_factory.model_info(recipe),
              common_flags.data_dir(FLAGS), FLAGS.check_sha256,
              clusters.from_flags(FLAGS.ps_hosts, FLAGS.worker_hosts,
                                  FLAGS.job_name, FLAGS.task_index,
                                  os.environ),
              FLAGS.sync_replicas, FLAGS.cluster_wait_secs)


if __name__ == '__main__':
  cli.run(main)
