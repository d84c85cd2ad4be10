"""Trains the MNIST ResNet: `python res_mnist.py`.

The defaults are the original blog's run: batch 100, Adam with the rate
`exponential_decay(0.003, global_step, 200, 0.97)`, 500 steps, a log line
every 50 steps, checkpoints `model/my_model-<step>`. `train()` below is the
original's, in its order (docs/original.md): the placeholders,
`res_mnist_inference.inference`, the loss, the decayed rate, Adam's
`minimize` with the global step, a `Saver`, and a session loop that feeds
`next_batch` batches to the train op and prints the step and loss. Unlike
the original, the decayed rate is the one Adam uses, dropout is on only
for training steps, and checkpoints are written every --save_every steps
and at the end instead of at every step. When --model_dir already holds a
checkpoint, training continues from its step up to --max_steps (--fresh
starts over). At the end it prints validation and test accuracy, dropout
off.

The extras enter `train()` as library calls and hooks, each named where it
does: the network and its towers (`nets/models.py`), augmentation
(`resmnist/augmentation.py`), the schedules and weight averages
(`resmnist/optimization.py`), validation and model selection and the rest
of the loop's hooks (`resmnist/hooks.py`), the cluster
(`resmnist/cluster.py`). Each setting is declared once, in
`resmnist/recipe.py`, with its default, bounds and help: `--help` lists
them. `--preset=best` trains the most accurate recipe measured
(docs/results.md), `--preset=fast` and `--preset=sprint` reach 99% soonest
(docs/speed.md); any flag given on the command line overrides a preset.

With --ps_hosts, --worker_hosts, --job_name and --task_index (or a TF_CONFIG
environment variable) it is one task of a TF1 cluster: parameter servers
hold the variables, every worker trains, worker 0 (the chief) checkpoints
(docs/distributed.md; `res_mnist_cluster.py` starts a cluster on this
machine).
"""
from resmnist import cli
cli.start()  # before TensorFlow loads

import contextlib  # noqa: E402
import os  # noqa: E402

from absl import flags  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

from nets import models  # noqa: E402
from nets import nets_factory  # noqa: E402
import res_mnist_inference  # noqa: E402
from resmnist import augmentation  # noqa: E402
from resmnist import cluster as clusters  # noqa: E402
from resmnist import common_flags  # noqa: E402
from resmnist import hooks as loop_hooks  # noqa: E402
from resmnist import optimization  # noqa: E402
from resmnist import recipe as recipes  # noqa: E402
from resmnist import runtime  # noqa: E402
from resmnist import trainer  # noqa: E402
from resmnist.input_data import IMAGE_PIXELS, NUM_CLASSES  # noqa: E402
from resmnist.recipe import LoopSettings, Recipe  # noqa: E402

# The recipe and the loop: resmnist/recipe.py declares them
recipes.define_flags(Recipe, choices={'net': sorted(nets_factory.NETWORKS)})
recipes.define_flags(LoopSettings)
common_flags.define_data_flags()
# Cluster: TF1 between-graph replication (docs/distributed.md)
clusters.define_flags()
# So that --help lists them beside this script's own.
flags.adopt_module_key_flags(recipes)
flags.adopt_module_key_flags(common_flags)
flags.adopt_module_key_flags(clusters)

FLAGS = flags.FLAGS


def train(mnist, recipe, settings, *, cluster=None, evaluate=True,
          extra_hooks=()):
  """Trains `recipe` on `mnist` in `settings.model_dir`; prints the results.

  In a `cluster` only the chief (worker 0) restores, saves, validates and
  reports. `evaluate=False` leaves out validation and the final accuracies
  (the bench); `extra_hooks` run after the loop's own.
  """
  chief = cluster is None or cluster.is_chief
  info = models.describe(recipe)  # what model.json says of the model
  with tf.Graph().as_default(), trainer.model_dir_lock(settings.model_dir,
                                                       chief):
    with clusters.devices(cluster):  # variables on the parameter servers
      tf.set_random_seed(recipe.seed)
      x = tf.placeholder(tf.float32, [None, IMAGE_PIXELS], name='x-input')
      y_ = tf.placeholder(tf.float32, [None, NUM_CLASSES], name='y-input')
      # --augment, --elastic, --cutout, --random_erasing
      images = augmentation.augmented(recipe, x)
      # res_mnist_inference.inference for --net=resnet, in --towers; resource
      # variables, for the ungated update (res_mnist_inference.training).
      inference = models.training_network_fn(recipe)
      with tf.variable_scope(tf.get_variable_scope(), use_resource=True):
        y = inference(images)[0]
        global_step = tf.train.get_or_create_global_step()
      cross_entropy = res_mnist_inference.loss(y, y_, recipe.label_smoothing)
      # exponential_decay(0.003, global_step, 200, 0.97); --lr_schedule
      learning_rate = optimization.configure_learning_rate(recipe, global_step)
      # --sync_replicas: each update averages as many gradients as workers.
      optimizer = clusters.optimizer(cluster,
                                     tf.train.AdamOptimizer(learning_rate))
      train_op = res_mnist_inference.training(
          cross_entropy + tf.losses.get_regularization_loss(), optimizer,
          global_step)
      # --moving_average_decay, --swa_start: what evaluation restores.
      train_op = optimization.average_weights(recipe, train_op, global_step)
      accuracy = tf.cast(res_mnist_inference.evaluation(y, y_), tf.float32) / (
          tf.cast(tf.shape(x)[0], tf.float32))
      tf.summary.scalar('loss', cross_entropy)
      tf.summary.scalar('accuracy', accuracy)
      tf.summary.scalar('learning_rate', learning_rate)
      # In the checkpoints, so that a resumed run knows the best so far.
      best_accuracy = tf.Variable(-1.0, trainable=False, use_resource=True,
                                  name='best_validation_accuracy')
      graph = loop_hooks.LoopTensors(
          x, y_, images, train_op, cross_entropy, global_step,
          tf.summary.merge_all(), best_accuracy,
          optimizer if clusters.is_sync(cluster) else None)
    trainer.check_memory(recipe.batch_size, recipe.towers)
    # --towers, --bfloat16, --threads
    config = runtime.session_config(recipe.towers, recipe.bfloat16,
                                    recipe.threads)
    evaluator = chief and evaluate and models.evaluator(info, config, mnist)
    with evaluator or contextlib.nullcontext(), \
        loop_hooks.stop_requested_by_signals() as stop_request:
      # Relative paths in the `checkpoint` file: a model dir can be moved.
      saver = tf.train.Saver(max_to_keep=settings.max_to_keep,
                             save_relative_paths=True)
      # TensorFlow's checkpoints, summaries, last step and NaN check;
      # validation and model selection (--eval_every), --precise_batch_norm.
      progress, hooks = loop_hooks.loop_hooks(
          graph, recipe, settings, saver=saver, stop_request=stop_request,
          evaluator=evaluator, data=mnist, chief=chief,
          batch_norm_decay=nets_factory.network(recipe.net).batch_norm_decay)
      start = trainer.start(settings, info, saver) if chief else None
      session_creator, server, cluster_hooks = trainer.session_creator(
          cluster, saver, start, config=config, info=info)
      with trainer.failures_reported(progress, settings.model_dir):
        with tf.train.MonitoredSession(
            session_creator, hooks + cluster_hooks + list(extra_hooks),
            # The sync chief's queue runner never returns by itself.
            stop_grace_period_secs=2 if cluster else 120) as sess:
          trainer.say_where(start, progress, recipe.max_steps)
          # The data order goes on as if the run had not stopped.
          mnist.train.skip(progress.step * recipe.batch_size)
          while progress.step < recipe.max_steps and not sess.should_stop():
            xs, ys = mnist.train.next_batch(recipe.batch_size)
            step, loss_value = sess.run([train_op, cross_entropy],
                                        feed_dict={x: xs, y_: ys})
            if step % settings.log_every == 0 and step != progress.last_logged:
              print('training step %d, loss %g %s'
                    % (step, loss_value, progress.speed()))
        if cluster and stop_request.signum is None:  # else reruns need the ps
          clusters.say_done(cluster, server, config)
      trainer.finish(progress, stop_request, settings=settings,
                     cluster=cluster, evaluator=evaluator, data=mnist)


def _fast(recipe):
  """--fast: `recipe` with --towers and --bfloat16 for this CPU, where not
  given on the command line."""
  towers, bfloat16, why = models.fast_settings(recipe)
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
  settings = recipes.from_flags(LoopSettings, FLAGS)
  cluster = clusters.from_flags(FLAGS, os.environ)
  trainer.check(recipe, settings, models.describe(recipe))
  if cluster and cluster.job_name == 'ps':
    return clusters.serve_parameters(cluster)
  if cluster:  # before anything slow: a misconfigured cluster shows now
    clusters.wait_for_parameter_servers(cluster)
  # Each worker draws its own batches (the weights come from the chief).
  seed = recipe.seed
  if seed is not None and cluster:
    seed += cluster.task_index
  mnist = common_flags.read_data(FLAGS, recipe.dataset, recipe.validation_size,
                                 seed)
  # --epochs: a sync step takes a batch from every worker, an async step one.
  recipe = recipe.with_epochs(mnist.train.num_examples
                              // clusters.replicas(cluster))
  trainer.check_batch_size(recipe.batch_size, mnist.train.num_examples)
  train(mnist, recipe, settings, cluster=cluster)


if __name__ == '__main__':
  cli.run(main)
