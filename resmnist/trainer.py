"""The training loop: what `python res_mnist.py` does once its flags are read.

    network_fn, eval_network_fn = nets_factory.network_fns(recipe)
    trainer.run(recipe, settings, network_fn, eval_network_fn,
                nets_factory.model_info(recipe))

`run` reads the data, holds the model directory's lock and calls `train`,
which builds the graph (`training.build_training_graph`) and runs it in
TensorFlow's `MonitoredSession` with the hooks of `hooks.loop_hooks`,
resuming from the latest verified checkpoint; the chief validates and
reports through a `loader.EvalModel` of `eval_network_fn`. With a `cluster`
(`cluster.from_flags`), this process is one of its tasks.

Why `MonitoredSession` and not `MonitoredTrainingSession`: the latter
names checkpoints `model.ckpt-<step>` (the original's are
`<model_name>-<step>`), restores whatever the `checkpoint` state file names
without verifying it, and makes non-chief workers poll every 30 s.
"""
import contextlib
import os
import signal

import tensorflow.compat.v1 as tf

from resmnist import checkpoints
from resmnist import cluster as clusters
from resmnist import errors
from resmnist import hooks as loop_hooks
from resmnist import input_data
from resmnist import loader
from resmnist import model_dir as model_dirs
from resmnist import runtime
from resmnist import training
from resmnist.recipe import SettingError
from resmnist.training import TrainingError


def check(recipe, settings, info):
  """SettingError if `recipe` and `settings` do not go together."""
  if settings.eval_every and not recipe.validation_size:
    raise SettingError('--eval_every needs a validation split, and '
                       '--validation_size is 0 (a preset that trains on every '
                       'image sets it so)')
  if recipe.precise_batch_norm and not info['batch_norm']:
    raise SettingError(
        '--precise_batch_norm=%d needs batch norm (--batch_norm, or a '
        'network that has it); --net=%s has none'
        % (recipe.precise_batch_norm, recipe.net))
  averaged = [name for name in ('moving_average_decay', 'swa_start')
              if getattr(recipe, name)]
  if len(averaged) == 2:
    raise SettingError('--moving_average_decay and --swa_start are two '
                       'averages of the weights; use one of them')
  if recipe.swa_start and info['batch_norm']:
    # The moving statistics would be of the last weights, not of their mean
    # (which needs its own pass over the data: not built).
    raise SettingError('--swa_start needs a network without batch norm, and '
                       + ('--batch_norm is set' if recipe.batch_norm else
                          '--net=%s has it' % recipe.net))
  if recipe.precise_batch_norm and averaged:
    # Its statistics would describe the weights, not their averages, which
    # are what is evaluated.
    raise SettingError('--precise_batch_norm does not go with --%s; use one '
                       'of them' % averaged[0])


def run(recipe, settings, network_fn, eval_network_fn, info, data_dir=None,
        check_sha256=True, cluster=None, sync_replicas=False,
        cluster_wait_secs=120):
  """Trains `recipe` as `python res_mnist.py` does, as one process or as a
  task of `cluster`; prints the results. Raises `errors.Error`s."""
  check(recipe, settings, info)
  if cluster and cluster.job_name == 'ps':
    return clusters.serve_parameters(cluster, cluster_wait_secs)
  if cluster:  # before anything slow: a misconfigured cluster shows now
    clusters.wait_for_parameter_servers(cluster, cluster_wait_secs)
  chief = cluster is None or cluster.is_chief
  # Each worker draws its own batches (weights come from the chief).
  seed = recipe.seed
  if seed is not None and cluster:
    seed += cluster.task_index
  data = input_data.read_dataset(recipe.dataset, data_dir, check_sha256,
                                recipe.validation_size, seed)
  # A sync step takes a batch from every worker, an async step one.
  workers = cluster.num_workers if cluster and sync_replicas else 1
  recipe = recipe.with_epochs(data.train.num_examples // workers)
  info = dict(info, recipe=recipe.as_dict())
  if recipe.batch_size > data.train.num_examples:
    raise TrainingError('--batch_size=%d is more than the %d training images'
                        % (recipe.batch_size, data.train.num_examples))
  if chief:
    model_dirs.make(settings.model_dir)
  with (model_dirs.Lock(settings.model_dir) if chief
        else contextlib.nullcontext()):
    train(data, recipe, settings, network_fn, eval_network_fn, info, cluster,
          sync_replicas, cluster_wait_secs)


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


def train(data, recipe, settings, network_fn, eval_network_fn, info,
          cluster=None, sync_replicas=False, cluster_wait_secs=120,
          extra_hooks=()):
  """Trains `recipe` on `data` in `settings.model_dir`; prints the results.

  With a `cluster`, this process is one of its workers; only the chief
  (worker 0) restores, saves, validates and reports. Without an
  `eval_network_fn`, nothing is validated or reported (the bench).
  `extra_hooks` run after the loop's own.
  """
  chief = cluster is None or cluster.is_chief
  with (tf.device(clusters.device_setter(cluster)) if cluster
        else contextlib.nullcontext()):
    graph = training.build_training_graph(
        recipe, network_fn,
        cluster.num_workers if cluster and sync_replicas else 0)
  _check_memory(recipe.batch_size, recipe.towers)
  config = runtime.session_config(recipe.towers, recipe.bfloat16,
                                  recipe.threads)
  evaluate = chief and eval_network_fn is not None
  with (loader.EvalModel(info, eval_network_fn, config) if evaluate
        else contextlib.nullcontext()) as evaluator, \
      loop_hooks.stop_requested_by_signals() as stop_request:
    # Relative paths in the `checkpoint` file: a model dir can be moved.
    saver = tf.train.Saver(max_to_keep=settings.max_to_keep,
                           save_relative_paths=True)
    progress, hooks = loop_hooks.loop_hooks(
        graph, recipe, settings, saver, loop_hooks.TrainingClock(),
        stop_request, evaluator, data, chief,
        getattr(network_fn, 'batch_norm_decay', None))
    start = _start(settings, recipe, info, saver) if chief else None
    session_creator, server, cluster_hooks = _session_creator(
        cluster, saver, start, config, sync_replicas, cluster_wait_secs, info)
    hooks += cluster_hooks
    try:
      _run_loop(graph, recipe, data, hooks + list(extra_hooks), progress,
                session_creator, start,
                # The sync chief's queue runner never returns by itself.
                stop_grace_period_secs=2 if cluster else 120)
      # An interrupted worker (e.g. a preempted chief) is not done: its
      # rerun needs the parameter servers still there.
      if cluster and stop_request.signum is None:
        clusters.say_done(cluster, server, config, cluster_wait_secs)
    except tf.errors.OpError as e:  # e.g. the disk is full
      raise _stopped_by(e, progress, settings.model_dir)
    except tf.train.NanLossDuringTrainingError:
      raise TrainingError(
          'the loss is %s at step %d: stopped without saving these weights; '
          'the last good checkpoint is %s (try a lower --learning_rate)'
          % (progress.loss, progress.step,
             tf.train.latest_checkpoint(settings.model_dir)))
    finally:
      _close_summary_writers()
    _finish(progress, stop_request, settings, cluster, evaluator, data)


def _start(settings, recipe, info, saver):
  """The chief's checkpoint to resume from (or None), and `model.json`."""
  start = _checkpoint_to_resume(settings, recipe.net, tf.global_variables())
  if start:
    saver.recover_last_checkpoints(checkpoints.checkpoints_on_disk(
        settings.model_dir))
  model_dirs.write_info(settings.model_dir, info)
  return start


def _session_creator(cluster, saver, start, config, sync_replicas,
                     wait_secs, info):
  """The session creator of this process, its cluster server if any, and
  the hooks that a cluster task needs besides the loop's."""
  scaffold = tf.train.Scaffold(saver=saver)
  if not cluster:
    return tf.train.ChiefSessionCreator(
        scaffold=scaffold, config=config,
        checkpoint_filename_with_path=start), None, []
  config = clusters.session_config(cluster, config)
  server = clusters.start_server(cluster, config)
  if sync_replicas:
    clusters.quiet_cancelled_queue_runners()
  mine = clusters.what_is_trained(info)
  announced = clusters.announcement(mine)
  if cluster.is_chief:
    return tf.train.ChiefSessionCreator(
        scaffold=scaffold, master=server.target, config=config,
        checkpoint_filename_with_path=start), server, [
            clusters.AnnounceHook(announced)]
  return clusters.WorkerSessionCreator(scaffold, server.target, config,
                                       wait_secs, announced, mine), server, []


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


def _stopped_by(error, progress, model_dir):
  """The TrainingError of a TensorFlow error that stopped the loop."""
  saving = any(op in error.message
               for op in ('SaveV2', 'MergeV2Checkpoints'))
  checkpoints.remove_partial_saves(model_dir)
  return TrainingError(
      'stopped at step %s%s: %s; the last good checkpoint is %s (run the '
      'same command again to continue from it)'
      % (progress.step, ' while saving a checkpoint' if saving else '',
         checkpoints.first_line(error), tf.train.latest_checkpoint(model_dir)))


def _finish(progress, stop_request, settings, cluster, evaluator, data):
  """After the loop: an interruption, a worker's end, or the results."""
  chief = cluster is None or cluster.is_chief
  final = tf.train.latest_checkpoint(settings.model_dir) if chief else None
  if stop_request.signum is not None:
    raise errors.Interrupted(
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
  if evaluator:
    _report(evaluator, data, final, settings)


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
    raise TrainingError(
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
