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
the validation split); `--preset=fast` reaches 99% in the least training time
measured (docs/speed.md: 0.65 epoch, annealed within it, smoothed labels);
any flag given on the command line overrides a preset.

The loop is TensorFlow's own `MonitoredSession` with its hooks; the graph
comes from `resmnist.training.build_training_graph(recipe)`, where `recipe`
holds every setting of the run, made from the flags in `main`.

With --ps_hosts, --worker_hosts, --job_name and --task_index (or a TF_CONFIG
environment variable) it is one task of a TF1 cluster: parameter servers
hold the variables, every worker trains, worker 0 (the chief) checkpoints
(`resmnist/cluster.py`, docs/distributed.md; `res_mnist_cluster.py` starts
a cluster on this machine).
"""
import contextlib
import os
import signal
import sys

from resmnist import slim  # noqa: F401  (readies TensorFlow first)
from absl import flags
import tensorflow.compat.v1 as tf

from resmnist import checkpoints
from resmnist import cli
from resmnist import cluster as clusters
from resmnist import common_flags
from resmnist import input_data
from resmnist import loader
from resmnist import model_dir as model_dirs
from resmnist import runtime
from resmnist import training
from nets import nets_factory
from resmnist.recipe import FIELDS as RECIPE_FIELDS
from resmnist.recipe import Recipe

# Data and files
common_flags.define_data_flags()
common_flags.define_model_dir_flags()
flags.DEFINE_integer('validation_size', 5000,
                     'Training images held out, the first ones, as in TF1.',
                     lower_bound=0)
flags.DEFINE_string('model_name', 'my_model',
                    'Checkpoint file prefix: <model_dir>/<model_name>-<step>.')

# Network
common_flags.define_net_flag('resnet')
flags.DEFINE_bool('batch_norm', False,
                  'Batch norm after every convolution (not in the original; '
                  'for resnet, vgg16 and inception).')
flags.DEFINE_bool('stray_bias', False, 'bottleneck_resnet only: put back '
                  'article 001\'s extra bias after each unit\'s sum (its '
                  'failure).')
flags.DEFINE_bool('canonical_bottleneck', False, 'bottleneck_resnet only: '
                  'the canonical bottleneck unit (batch norm, no ReLU before '
                  'the sum, He init) instead of the article\'s.')
flags.DEFINE_bool('he_init', False, 'bottleneck_resnet only: He init and zero '
                  'biases in every layer, the fully connected head too, '
                  'instead of the article\'s truncated_normal(0.1) and 0.1.')

# Training; the defaults are the original's
flags.DEFINE_enum('preset', None, ['best', 'fast', 'article001', 'article002',
                                    'article003_deep_mnist',
                                    'article003_lenet5'],
                  'A recipe: best (docs/results.md), fast (99% in the least '
                  'training time, docs/speed.md) or a companion article\'s '
                  '(docs/zoo.md); flags given explicitly override it.')
flags.DEFINE_integer('batch_size', 100, 'Images per training step.',
                     lower_bound=1)
flags.DEFINE_float('learning_rate', 0.003, 'Initial learning rate of Adam.')
flags.DEFINE_enum('lr_schedule', 'exponential',
                  ['exponential', 'cosine', 'constant'],
                  'exponential: the original exponential_decay; cosine: '
                  'linear warm-up, then cosine decay to 0 at --max_steps; '
                  'constant: --learning_rate throughout.')
flags.DEFINE_float('learning_rate_decay', 0.97,
                   'Factor of exponential_decay per --decay_steps.')
flags.DEFINE_integer('decay_steps', 200, 'Steps of exponential_decay.',
                     lower_bound=1)
flags.DEFINE_integer('warmup_steps', 0, 'Linear warm-up steps of the cosine '
                     'schedule.', lower_bound=0)
flags.DEFINE_integer('max_steps', 500,
                     'Global step at which training stops.', lower_bound=1)
flags.DEFINE_float('epochs', 0, 'If > 0, train for this many epochs of the '
                   'training split instead of --max_steps.', lower_bound=0)
flags.DEFINE_float('weight_decay', 0.0, 'L2 weight decay of the conv and '
                   'fully connected weights (the original had 0.0001 '
                   'commented out).', lower_bound=0)
flags.DEFINE_bool('augment', False, 'Random shifts, rotations and scaling of '
                  'the training images; on Fashion-MNIST, left-right flips '
                  'and whole-pixel shifts instead (a mirrored shoe is a '
                  'shoe, a mirrored 2 is not a 2).')
flags.DEFINE_integer('cutout', 0, 'Side in pixels of a square of zeros put at '
                     'a random place of each training image (Cutout, DeVries '
                     'and Taylor 2017); 0: none.', lower_bound=0,
                     upper_bound=28)
flags.DEFINE_integer('precise_batch_norm', 0, 'After the last step, run this '
                     'many more training batches forward with the weights '
                     'frozen, so that batch norm\'s moving averages (what '
                     'evaluation uses) describe the final weights, not those '
                     'of the last ~100 steps; 0: not. For short runs at a '
                     'high rate (docs/zoo.md, article 002).', lower_bound=0)
flags.DEFINE_float('label_smoothing', 0.0, 'Train on targets that give this '
                   'share of each label\'s probability evenly to the 10 '
                   'classes (0.1: 0.91 to the label, 0.01 to each other '
                   'class); 0: one-hot, as the original.', lower_bound=0,
                   upper_bound=0.5)
flags.DEFINE_integer('seed', None, 'Seed of the weights, dropout and data '
                     'order; unset: a different run each time.')

# Speed
flags.DEFINE_bool('bfloat16', False, 'Compute in bfloat16 where it is safe '
                  '(oneDNN auto mixed precision; weights stay float32). '
                  'Fast on CPUs with AVX512_BF16 or AMX.')
flags.DEFINE_integer('towers', 1, 'Split each training batch into this many '
                     'towers (copies of the network sharing its weights) '
                     'that run side by side, one core each: 2 trains 19-35% '
                     'faster than 1 on 2 AVX-512 Xeon cores. Each tower draws its '
                     'own dropout masks, so a --seed gives another run than '
                     'with 1. Not with --batch_norm.', lower_bound=1)
flags.DEFINE_integer('threads', 0, 'Intra-op threads per kernel; 0: one per '
                     'core, or 1 with --towers > 1.', lower_bound=0)
flags.DEFINE_bool('fast', False, 'Choose --towers and --bfloat16 for this '
                  'CPU (those not given): bfloat16 only where the CPU has '
                  'it in hardware, one tower per core unless the network has '
                  'batch norm or is slower in towers (bottleneck_resnet, '
                  'vgg16). Prints what it chose and why. A seed gives '
                  'other numbers than without it (docs/speed.md).')

# Logging, evaluation and checkpoints
flags.DEFINE_integer('log_every', 50, 'Steps between log lines.',
                     lower_bound=1)
flags.DEFINE_integer('eval_every', 0, 'Steps between validation evaluations; '
                     'the best checkpoint is kept in <model_dir>/best. '
                     '0: evaluate only at the end.', lower_bound=0)
flags.DEFINE_bool('report_test', False, 'At each --eval_every evaluation '
                  'also print and record the test accuracy (to report it, e.g. '
                  'the time to reach 99%; it never chooses anything).')
flags.DEFINE_integer('save_every', 100, 'Steps between checkpoints (one is '
                     'also written at the end).', lower_bound=1)
flags.DEFINE_integer('max_to_keep', 5, 'Most recent checkpoints kept.',
                     lower_bound=1)
flags.DEFINE_bool('fresh', False, 'Ignore checkpoints in --model_dir and '
                  'start from step 0 (later saves overwrite them).')

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

flags.register_validator('learning_rate', lambda value: value > 0,
                         message='must be greater than 0')
flags.register_validator('learning_rate_decay', lambda value: value > 0,
                         message='must be greater than 0')

flags.register_multi_flags_validator(
    ['eval_every', 'validation_size'],
    lambda values: not values['eval_every'] or values['validation_size'] > 0,
    message='--eval_every needs a validation split (--validation_size > 0)')

FLAGS = flags.FLAGS

# The best recipe measured (docs/results.md, table "Accuracy"), the fastest
# to 99% (docs/speed.md), and each companion article's own (docs/zoo.md),
# with its defects fixed: dropout off and batches when evaluating, the loss
# from logits, selection on the validation split, never the test set.
PRESETS = {
    'best': dict(batch_norm=True, augment=True, lr_schedule='cosine',
                 learning_rate=0.003, warmup_steps=500, weight_decay=5e-5,
                 epochs=25, eval_every=550, save_every=550, log_every=550,
                 fast=True),
    # 99% soonest (docs/speed.md, "--preset=fast"): 0.65 epoch, annealed to
    # 0 within it; augmentation and label smoothing pay even that early.
    'fast': dict(augment=True, lr_schedule='cosine', learning_rate=0.005,
                 warmup_steps=30, weight_decay=5e-5, epochs=0.65,
                 label_smoothing=0.1, save_every=1000, fast=True),
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


def _checkpoint_to_resume(settings, net, var_list):
  """The checkpoint training goes on from (verified), or None to start."""
  if settings.fresh:
    return None
  path = checkpoints.find_checkpoint(settings.model_dir)
  if path:
    held = model_dirs.read_info(settings.model_dir, path)['net']
    if held != net:
      raise model_dirs.ModelDirError(
          '%s holds a %s, not a %s (--net); give another --model_dir, or '
          '--fresh to start a new model there' % (settings.model_dir, held,
                                                  net))
    checkpoints.verify(path, var_list)
  return path


def train(data, recipe, settings, cluster=None):
  """Trains `recipe` on `data` in `settings.model_dir`; prints the results.

  With a `cluster`, this process is one of its workers; only the chief
  (worker 0) restores, saves, validates and reports.
  """
  chief = cluster is None or cluster.is_chief
  sync_replicas = cluster.num_workers if cluster and FLAGS.sync_replicas else 0
  with (tf.device(clusters.device_setter(cluster)) if cluster
        else contextlib.nullcontext()):
    graph = training.build_training_graph(recipe, sync_replicas)
  _check_memory(recipe.batch_size, recipe.towers)
  config = runtime.session_config(recipe.towers, recipe.bfloat16,
                                  recipe.threads)
  info = model_dirs.model_info(recipe.net, recipe.net_options(),
                               recipe.dataset, recipe.as_dict())
  with (loader.EvalModel(info, runtime.eval_towers(net=recipe.net), config)
        if chief else contextlib.nullcontext()) as evaluator, \
      training.stop_requested_by_signals() as stop_request:
    # Relative paths in the `checkpoint` file: a model dir can be moved.
    saver = tf.train.Saver(max_to_keep=settings.max_to_keep,
                           save_relative_paths=True)
    clock = training.TrainingClock()
    progress, hooks = training.loop_hooks(graph, recipe, settings, saver,
                                          clock, stop_request, evaluator, data,
                                          chief)
    start = None
    if chief:
      start = _checkpoint_to_resume(settings, recipe.net,
                                    tf.global_variables())
      if start:
        saver.recover_last_checkpoints(checkpoints.checkpoints_on_disk(
            settings.model_dir))
      model_dirs.write_info(settings.model_dir, info)
    try:
      if cluster:
        server, session_creator = _cluster_session(cluster, saver, start,
                                                   config)
      else:
        session_creator = tf.train.ChiefSessionCreator(
            scaffold=tf.train.Scaffold(saver=saver), config=config,
            checkpoint_filename_with_path=start)
      _run_loop(graph, recipe, data, hooks, progress, session_creator, start,
                # The sync chief's queue runner never returns by itself.
                stop_grace_period_secs=2 if cluster else 120)
      # An interrupted worker (e.g. a preempted chief) is not done: its
      # rerun needs the parameter servers still there.
      if cluster and stop_request.signum is None:
        clusters.say_done(cluster, server, config, FLAGS.cluster_wait_secs)
    except tf.errors.OpError as e:  # e.g. the disk is full
      saving = any(op in e.message for op in ('SaveV2', 'MergeV2Checkpoints'))
      checkpoints.remove_partial_saves(settings.model_dir)
      raise training.TrainingError(
          'stopped at step %s%s: %s; the last good checkpoint is %s (run the '
          'same command again to continue from it)'
          % (progress.step, ' while saving a checkpoint' if saving else '',
             checkpoints.first_line(e),
             tf.train.latest_checkpoint(settings.model_dir)))
    except tf.train.NanLossDuringTrainingError:
      raise training.TrainingError(
          'the loss is %s at step %d: stopped without saving these weights; '
          'the last good checkpoint is %s (try a lower --learning_rate)'
          % (progress.loss, progress.step,
             tf.train.latest_checkpoint(settings.model_dir)))
    finally:
      _close_summary_writers()
    final = None if not chief else tf.train.latest_checkpoint(
        settings.model_dir)
    if stop_request.signum is not None:
      raise training.Interrupted(
          '%s at step %d: %s' % (
              signal.Signals(stop_request.signum).name, progress.step,
              'saved %s; run the same command again to continue' % final
              if chief else 'worker %d stopped (the chief saves)'
              % cluster.task_index), stop_request.signum)
    if not chief:
      print('worker %d done at step %d' % (cluster.task_index, progress.step))
      return
    if progress.step > progress.start_step:
      print('Model saved to %s' % final)
      print('trained steps %d-%d in %.1f s (start-up and evaluations apart)'
            % (progress.start_step + 1, progress.step, progress.seconds))
    _report(evaluator, data, final, settings)


def _cluster_session(cluster, saver, start, config):
  """This worker's server and session creator, once the ps can be reached."""
  config = clusters.session_config(cluster, config)
  server = clusters.start_server(cluster, config)
  if FLAGS.sync_replicas:
    clusters.quiet_cancelled_queue_runners()
  scaffold = tf.train.Scaffold(saver=saver)
  if cluster.is_chief:
    creator = tf.train.ChiefSessionCreator(
        scaffold=scaffold, master=server.target, config=config,
        checkpoint_filename_with_path=start)
  else:
    creator = clusters.WorkerSessionCreator(scaffold, server.target, config,
                                            FLAGS.cluster_wait_secs)
  return server, creator


def _run_loop(graph, recipe, data, hooks, progress, session_creator, start,
              stop_grace_period_secs):
  """The training loop; feeds the batches that an unbroken run would see."""
  with tf.train.MonitoredSession(
      session_creator, hooks,
      stop_grace_period_secs=stop_grace_period_secs) as session:
    if start:
      print('Restored %s: continuing from step %d' % (start, progress.step))
    if progress.step >= recipe.max_steps:
      print('Already at step %d, not below --max_steps=%d: nothing to train'
            % (progress.step, recipe.max_steps))
    # With the same --seed and --batch_size, the data order goes on as if
    # the run had not stopped.
    data.train.skip(progress.step * recipe.batch_size)
    while progress.step < recipe.max_steps and not session.should_stop():
      images, labels = data.train.next_batch(recipe.batch_size)
      session.run(graph.train_op,
                  {graph.images: images, graph.labels: labels})


def _close_summary_writers():
  """Flushes and closes the hooks' summary writers.

  A failure here (the disk is full, which the loop reported already) must
  not hide the loop's own result: summaries are a record, not the model.
  """
  try:
    tf.summary.FileWriterCache.clear()
  except (tf.errors.OpError, OSError):
    pass


def _check_memory(batch_size, towers):
  """TrainingError if a step of the default graph cannot fit in memory."""
  needed = runtime.step_bytes(tf.get_default_graph(), batch_size, towers)
  available = runtime.available_bytes()
  if available is not None and needed > available:
    raise training.TrainingError(
        'a training step of --batch_size=%d needs about %.1f GB of memory, '
        'and %.1f GB is available; use a smaller --batch_size'
        % (batch_size, needed / 1e9, available / 1e9))


def _report(evaluator, data, final, settings):
  """Prints the accuracies of the final (and the best) checkpoint."""
  evaluator.restore(final)
  if data.validation.num_examples:
    print('validation accuracy %.4f' % evaluator.evaluate(data.validation)[0])
  print('test accuracy %.4f' % evaluator.evaluate(data.test)[0])
  best = tf.train.latest_checkpoint(os.path.join(settings.model_dir, 'best'))
  if settings.eval_every and best:
    evaluator.restore(best)
    print('best validation checkpoint %s: validation accuracy %.4f, test '
          'accuracy %.4f' % (best, evaluator.evaluate(data.validation)[0],
                             evaluator.evaluate(data.test)[0]))


def _apply_preset():
  """Sets the preset's flags, except those given on the command line."""
  for name, value in PRESETS.get(FLAGS.preset, {}).items():
    if not FLAGS[name].present:
      FLAGS[name].value = value


def _choose_fast_settings(options):
  """--fast: sets --towers and --bfloat16 for this CPU, where not given."""
  towers, bfloat16, why = runtime.fast_settings(
      nets_factory.has_batch_norm(FLAGS.net, options),
      slower_in_towers=FLAGS.net in nets_factory.SLOWER_IN_TOWERS)
  if not FLAGS['towers'].present:
    FLAGS.towers = towers
  if not FLAGS['bfloat16'].present:
    FLAGS.bfloat16 = bfloat16
  print('--fast on %s: --towers=%d --%sbfloat16 (%s)'
        % (runtime.cpu_model(), FLAGS.towers, '' if FLAGS.bfloat16 else 'no',
           why))


def main(_):
  _apply_preset()
  recipe = Recipe(**{name: FLAGS[name].value for name in RECIPE_FIELDS})
  try:
    options = recipe.net_options()
  except ValueError as e:
    sys.exit('res_mnist.py: error: %s' % e)
  if FLAGS.fast:
    _choose_fast_settings(options)
    recipe = Recipe(**{name: FLAGS[name].value for name in RECIPE_FIELDS})
  if FLAGS.towers > 1 and nets_factory.has_batch_norm(recipe.net, options):
    # Each tower would normalise by its own slice's statistics and update
    # the moving averages in place, racing the others.
    sys.exit('res_mnist.py: error: --towers=%d does not go with %s (towers '
             'would race to update its moving averages); use --towers=1'
             % (FLAGS.towers, '--batch_norm' if recipe.batch_norm else
                '--net=%s, which has batch norm' % recipe.net))
  if FLAGS.eval_every and not FLAGS.validation_size:  # a preset's 0
    sys.exit('res_mnist.py: error: --eval_every needs a validation split '
             '(--validation_size > 0; --preset=%s sets 0)' % FLAGS.preset)
  if recipe.precise_batch_norm and not nets_factory.has_batch_norm(
      recipe.net, options):
    sys.exit('res_mnist.py: error: --precise_batch_norm=%d needs batch norm '
             '(--batch_norm, or a network that has it); --net=%s has none'
             % (recipe.precise_batch_norm, recipe.net))
  try:
    cluster = clusters.from_flags(FLAGS.ps_hosts, FLAGS.worker_hosts,
                                  FLAGS.job_name, FLAGS.task_index, os.environ)
    if cluster and cluster.job_name == 'ps':
      config = runtime.session_config()
      with training.stop_requested_by_signals() as stop_request:
        clusters.serve_until_done(cluster, clusters.start_server(cluster,
                                                                 config),
                                  config, FLAGS.cluster_wait_secs,
                                  stop_request)
      if stop_request.signum is not None:
        print('res_mnist.py: parameter server %d stopped by %s'
              % (cluster.task_index, signal.Signals(stop_request.signum).name),
              file=sys.stderr)
        sys.exit(128 + stop_request.signum)
      return
    if cluster:  # before anything slow: a misconfigured cluster shows now
      clusters.wait_for_parameter_servers(cluster, FLAGS.cluster_wait_secs)
    chief = cluster is None or cluster.is_chief
    # Each worker draws its own batches (weights come from the chief).
    seed = FLAGS.seed
    if seed is not None and cluster:
      seed += cluster.task_index
    data = common_flags.read_data(FLAGS, recipe.dataset,
                                  FLAGS.validation_size, seed)
    if FLAGS.epochs:
      # A sync step takes a batch from every worker, an async step one.
      workers = cluster.num_workers if cluster and FLAGS.sync_replicas else 1
      recipe = recipe.with_epochs(FLAGS.epochs,
                                  data.train.num_examples // workers)
    if recipe.batch_size > data.train.num_examples:
      raise training.TrainingError(
          '--batch_size=%d is more than the %d training images'
          % (recipe.batch_size, data.train.num_examples))
    settings = training.LoopSettings(
        **{name: FLAGS[name].value for name in training.LoopSettings._fields})
    if chief:
      model_dirs.make(FLAGS.model_dir)
    with (model_dirs.Lock(FLAGS.model_dir) if chief
          else contextlib.nullcontext()):
      train(data, recipe, settings, cluster)
  except (input_data.DataError, checkpoints.CheckpointError,
          model_dirs.ModelDirError, training.TrainingError,
          clusters.ClusterError) as e:
    sys.exit('res_mnist.py: error: %s' % e)
  except training.Interrupted as e:
    print('res_mnist.py: interrupted by %s' % e, file=sys.stderr)
    sys.exit(128 + e.signum)
  except KeyboardInterrupt:
    print('res_mnist.py: interrupted before training started; nothing to '
          'save', file=sys.stderr)
    sys.exit(130)


if __name__ == '__main__':
  cli.run(main)
