"""What `res_mnist.py`'s `train()` calls around its graph and loop.

    trainer.check(recipe, settings, info)       # settings that do not go together
    start = trainer.start(settings, info, saver)  # the checkpoint to resume
    with trainer.failures_reported(progress, settings.model_dir):
      ...the loop...
    trainer.finish(progress, stop_request, settings=settings, ...)

The chief's model directory is locked while it trains, resumes from its
latest verified checkpoint and gets `model.json`; a TensorFlow error or a
loss that is no longer finite becomes one `TrainingError` line that names
the last good checkpoint; at the end the accuracies are printed.

Why `MonitoredSession` and not `MonitoredTrainingSession`: the latter
names checkpoints `model.ckpt-<step>` (the original's are
`<model_name>-<step>`), restores whatever the `checkpoint` state file names
without verifying it, and makes non-chief workers poll every 30 s.
"""
import contextlib
import dataclasses
import os
import signal

import tensorflow.compat.v1 as tf

from resmnist import calibration
from resmnist import checkpoints
from resmnist import cluster as clusters
from resmnist import errors
from resmnist import model_dir as model_dirs
from resmnist import runtime
from resmnist.recipe import SettingError


class TrainingError(errors.Error):
  """Training cannot go on (e.g. the loss is no longer finite)."""


def check(recipe, settings, info):
  """SettingError if `recipe` and `settings` (LoopSettings) do not go
  together for the model `info` (a `model_dir.ModelInfo`)."""
  if settings.eval_every and not recipe.validation_size:
    raise SettingError('--eval_every needs a validation split, and '
                       '--validation_size is 0 (a preset that trains on every '
                       'image sets it so)')
  if recipe.precise_batch_norm and not info.batch_norm:
    raise SettingError(
        '--precise_batch_norm=%d needs batch norm (--batch_norm, or a '
        'network that has it); --net=%s has none'
        % (recipe.precise_batch_norm, recipe.net))
  averaged = [name for name in ('moving_average_decay', 'swa_start')
              if getattr(recipe, name)]
  if len(averaged) == 2:
    raise SettingError('--moving_average_decay and --swa_start are two '
                       'averages of the weights; use one of them')
  if recipe.swa_start and info.batch_norm:
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


@contextlib.contextmanager
def model_dir_lock(model_dir, chief=True):
  """The chief makes `model_dir` and holds its lock while inside; other
  workers neither."""
  if not chief:
    yield
    return
  model_dirs.make(model_dir)
  with model_dirs.Lock(model_dir):
    yield


def _checkpoint_to_resume(settings, net, var_list):
  """The checkpoint training goes on from (verified), or None to start."""
  if settings.fresh:
    return None
  path = checkpoints.find_checkpoint(settings.model_dir)
  if path:
    held = model_dirs.read_info(settings.model_dir, path).net
    if held != net:
      raise model_dirs.ModelDirError(
          '%s holds a %s, not a %s (--net); give another --model_dir, or '
          '--fresh to start a new model there' % (settings.model_dir, held,
                                                  net))
    checkpoints.verify(path, var_list)
  return path


def start(settings, info, saver):
  """The chief's checkpoint to resume from (or None); writes `model.json`."""
  start = _checkpoint_to_resume(settings, info.net, tf.global_variables())
  if start:
    saver.recover_last_checkpoints(checkpoints.checkpoints_on_disk(
        settings.model_dir))
  model_dirs.write_info(settings.model_dir, info)
  return start


def session_creator(cluster, saver, start, *, config, info):
  """The session creator of this process (restoring `start` if any), its
  cluster server if any, and the hooks that a cluster task needs besides
  the loop's."""
  scaffold = tf.train.Scaffold(saver=saver)
  if not cluster:
    return tf.train.ChiefSessionCreator(
        scaffold=scaffold, config=config,
        checkpoint_filename_with_path=start), None, []
  config = clusters.session_config(cluster, config)
  server = clusters.start_server(cluster, config)
  if cluster.sync_replicas:
    clusters.quiet_cancelled_queue_runners()
  mine = clusters.what_is_trained(info)
  announced = clusters.announcement(mine)
  if cluster.is_chief:
    return tf.train.ChiefSessionCreator(
        scaffold=scaffold, master=server.target, config=config,
        checkpoint_filename_with_path=start), server, [
            clusters.AnnounceHook(announced)]
  return clusters.WorkerSessionCreator(
      scaffold, server.target, config, timeout=cluster.wait_secs,
      announced=announced, mine=mine), server, []


def say_where(start, progress, max_steps):
  """Where the session starts: the checkpoint restored, or nothing to do."""
  if start:
    print('Restored %s: continuing from step %d' % (start, progress.step))
  if progress.step >= max_steps:
    print('Already at step %d, not below --max_steps=%d: nothing to train'
          % (progress.step, max_steps))


@contextlib.contextmanager
def failures_reported(progress, model_dir):
  """The loop's failures as one-line `TrainingError`s that name the last
  good checkpoint (a partial save removed); the summary writers closed."""
  try:
    yield
  except tf.errors.OpError as e:  # e.g. the disk is full
    raise _stopped_by(e, progress, model_dir)
  except tf.train.NanLossDuringTrainingError:
    raise TrainingError(
        'the loss is %s at step %d: stopped without saving these weights; '
        'the last good checkpoint is %s (try a lower --learning_rate)'
        % (progress.loss, progress.step, tf.train.latest_checkpoint(model_dir)))
  finally:
    _close_summary_writers()


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


def finish(progress, stop_request, *, settings, cluster, evaluator, data):
  """After the loop: an interruption, a worker's end, or the results (with
  an `evaluator`, a `loader.EvalModel`)."""
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
    _calibrate(evaluator, data, final, settings.model_dir)


def _close_summary_writers():
  """Flushes and closes the hooks' summary writers.

  A failure here (the disk is full, which the loop reported already) must
  not hide the loop's own result: summaries are a record, not the model.
  """
  try:
    tf.summary.FileWriterCache.clear()
  except (tf.errors.OpError, OSError):
    pass


def check_batch_size(batch_size, train_examples):
  """TrainingError if a batch is more than the training split."""
  if batch_size > train_examples:
    raise TrainingError('--batch_size=%d is more than the %d training images'
                        % (batch_size, train_examples))


def check_memory(batch_size, towers):
  """TrainingError if a step of the default graph cannot fit in memory."""
  needed = runtime.step_bytes(tf.get_default_graph(), batch_size, towers)
  available = runtime.available_bytes()
  if available is not None and needed > available:
    raise TrainingError(
        'a training step of --batch_size=%d needs about %.1f GB of memory, '
        'and %.1f GB is available; use a smaller --batch_size'
        % (batch_size, needed / 1e9, available / 1e9))


def _calibrate(evaluator, data, final, model_dir):
  """Fits the temperature of the final checkpoint on held-out images
  (`calibration.held_out`), keeps it in `model.json`, and prints the test
  set's ECE without and with it (reported only)."""
  evaluator.restore(final)
  temperature, fitted = calibration.fit(evaluator.logits_of, data)
  model_dirs.write_info(model_dir, dataclasses.replace(
      model_dirs.read_info(model_dir), temperature=temperature))
  logits = evaluator.logits_of(data.test.images)
  labels = data.test.labels.argmax(axis=1)
  print('calibration: %s; test ECE %.2f%% before, %.2f%% after' % (
      fitted, 100 * calibration.expected_calibration_error(
          calibration.softmax(logits), labels),
      100 * calibration.expected_calibration_error(
          calibration.softmax(logits, temperature), labels)))


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
