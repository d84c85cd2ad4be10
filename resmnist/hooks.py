"""The hooks of the training loop, in TensorFlow's `SessionRunHook` pattern.

`loop_hooks` gives `res_mnist.train`'s `MonitoredSession` TensorFlow's own
(checkpoints, summaries, step counter, stop at the last step, NaN check)
and four for what they lack:

- `ProgressHook`: where the loop is, and images/s and the time left for
  its log line;
- `ValidationHook`: evaluates the validation split every --eval_every
  steps through `loader.EvalModel` and keeps the best checkpoint;
- `PreciseBatchNormHook`: after the last step, recomputes batch norm's
  moving averages with the weights frozen (--precise_batch_norm);
- `StopOnSignalHook`: stops after the current step on SIGINT or SIGTERM,
  so that the checkpoint hook saves that step before the loop ends.
"""
import collections
import contextlib
import datetime
import os
import signal
import time

import numpy as np
import tensorflow.compat.v1 as tf

from resmnist import input_data
from resmnist import report


def format_seconds(seconds):
  return str(datetime.timedelta(seconds=round(seconds)))


def loop_hooks(graph, recipe, settings, *, saver, stop_request,
               evaluator=None, data=None, chief=True, batch_norm_decay=None):
  """The training loop's hooks, in the order they run after each step.

  `graph` is the training graph's tensors (`LoopTensors`). The NaN check
  comes before the checkpoint hook, so that the weights of a step whose
  loss is not finite are never saved. With `settings.eval_every`,
  `evaluator` (a `loader.EvalModel`) evaluates `data.validation`. Only the
  chief (`chief`: a single process is one) saves checkpoints and summaries
  and validates. `batch_norm_decay` is the network's, for
  `recipe.precise_batch_norm`. Returns the `ProgressHook` too, for where
  the loop is.
  """
  # Seconds of training: validation pauses it.
  clock = TrainingClock()
  progress = ProgressHook(graph, recipe.batch_size, recipe.max_steps, clock)
  loss = graph.cross_entropy
  # NanTensorHook checks for NaN only; an infinite loss is as bad.
  finite_or_nan = tf.where(tf.math.is_finite(loss), loss, np.nan)
  hooks = [
      progress,
      tf.train.NanTensorHook(finite_or_nan),
      tf.train.StopAtStepHook(last_step=recipe.max_steps),
      StopOnSignalHook(stop_request),
  ]
  if graph.sync_optimizer:
    hooks.append(graph.sync_optimizer.make_session_run_hook(chief))
  if not chief:
    return progress, hooks
  hooks += [
      tf.train.CheckpointSaverHook(settings.model_dir,
                                   save_steps=settings.save_every, saver=saver,
                                   checkpoint_basename=settings.model_name),
      tf.train.SummarySaverHook(save_steps=settings.log_every,
                                output_dir=settings.model_dir,
                                summary_op=graph.summary_op),
      tf.train.StepCounterHook(every_n_steps=settings.log_every,
                               output_dir=settings.model_dir),
  ]
  if recipe.precise_batch_norm:
    # First, so that the checkpoint and validation of the last step see the
    # recomputed averages, and the training time counts the batches.
    hooks.insert(0, PreciseBatchNormHook(graph, data.train, recipe,
                                         decay=batch_norm_decay))
  if settings.eval_every:
    hooks.append(ValidationHook(
        evaluator, data, graph, settings=settings, max_steps=recipe.max_steps,
        saver=saver, clock=clock,
        class_names=input_data.DATASETS[recipe.dataset].class_names))
  return progress, hooks


# The training graph's tensors that the hooks run or feed: the images and
# labels placeholders, what the network reads (the images after
# augmentation), the train op (it evaluates to the new global step), the
# loss, the summaries, the best validation accuracy so far (a variable of
# the checkpoints), and the SyncReplicasOptimizer if any.
LoopTensors = collections.namedtuple(
    'LoopTensors', 'images labels network_input train_op cross_entropy '
    'global_step summary_op best_accuracy sync_optimizer')


class TrainingClock(object):
  """Seconds of training: from the first step on, evaluation time left out.

  Start-up (building the session, restoring, the first checkpoint) is not
  training: the clock starts at the first step (`start`), whose one-off
  kernel set-up it counts.
  """

  def __init__(self):
    self._start = None
    self._paused = 0.0

  def start(self):
    if self._start is None:
      self._start = time.time()

  def elapsed(self):
    if self._start is None:
      return 0.0
    return time.time() - self._start - self._paused

  @contextlib.contextmanager
  def paused(self):
    start = time.time()
    try:
      yield
    finally:
      self._paused += time.time() - start


class ProgressHook(tf.train.SessionRunHook):
  """Where the loop is: the step the session started at, the step and loss
  of the last run (for a message if it fails), the seconds of training at
  the last step (`seconds`: the saves and summaries after it left out), and
  the speed and time left for the log line (`speed`). Starts `clock` at the
  first step.
  """

  def __init__(self, graph, batch_size, max_steps, clock):
    self._fetches = {'step': graph.train_op, 'loss': graph.cross_entropy}
    self._global_step = graph.global_step
    self._batch_size = batch_size
    self._max_steps = max_steps
    self._clock = clock
    self.start_step = self.step = None
    self.loss = None
    self.seconds = 0.0

  def after_create_session(self, session, coord):
    self.start_step = self.step = int(session.run(self._global_step))
    self._window = (self._clock.elapsed(), self.step)

  def before_run(self, run_context):
    self._clock.start()
    return tf.train.SessionRunArgs(self._fetches)

  def after_run(self, run_context, run_values):
    self.step, self.loss = run_values.results['step'], run_values.results['loss']
    self.seconds = self._clock.elapsed()

  @property
  def last_logged(self):
    """The step of the last `speed` (a sync worker's first steps can end
    before the chief's first update, all at the same step)."""
    return self._window[1]

  def speed(self):
    """`(I images/s, H:MM:SS left)` since the last call."""
    now, window_step = self._clock.elapsed(), self._window[1]
    seconds_per_step = (now - self._window[0]) / max(self.step - window_step,
                                                      1)
    self._window = (now, self.step)
    return '(%.0f images/s, %s left)' % (
        self._batch_size / seconds_per_step,
        format_seconds(seconds_per_step * (self._max_steps - self.step)))


def moving_average_recomputation(decay, batches):
  """Ops that make batch norm's `batches` next updates their moving averages.

  `reset` sets every moving mean and variance to 0; after `batches`
  updates of decay `decay` each holds (1 - decay ** batches) times a
  weighted mean of those batches' statistics, so `rescale` divides by that.
  Between them, run `batches` forward passes in training mode with the
  weights frozen (Wu and Johnson 2021, "precise BN"). Old averages weigh
  nothing, however far they were from the final weights' statistics.
  """
  averages = [v for v in tf.global_variables()
              if v.op.name.endswith(('/moving_mean', '/moving_variance'))]
  reset = tf.group([v.assign(tf.zeros_like(v)) for v in averages])
  rescale = tf.group([v.assign(v / (1.0 - decay ** batches))
                      for v in averages])
  return reset, rescale


class PreciseBatchNormHook(tf.train.SessionRunHook):
  """After the last step, recomputes batch norm's moving averages.

  The training graph updates them in place (decay 0.99: an average over
  about the last 100 steps). While the weights still move fast (a constant
  rate, a short run), those steps' statistics no longer fit the final
  weights, and evaluation with them can lose many points (docs/zoo.md,
  article 002). Here they are computed again from `batches` training
  batches run forward only, with the weights frozen
  (`moving_average_recomputation`). The images are the training set's as
  they are, without augmentation or cutout, whose blurred and blanked
  images have other statistics than those evaluation normalises.
  """

  def __init__(self, graph, train_set, recipe, *, decay):
    self._graph, self._train_set = graph, train_set
    self._batch_size, self._batches = (recipe.batch_size,
                                       recipe.precise_batch_norm)
    self._max_steps, self._decay = recipe.max_steps, decay

  def begin(self):
    self._reset, self._rescale = moving_average_recomputation(self._decay,
                                                              self._batches)

  def before_run(self, run_context):
    return tf.train.SessionRunArgs(self._graph.train_op)

  def after_run(self, run_context, run_values):
    if run_values.results != self._max_steps:
      return
    start = time.time()
    session = run_context.session
    session.run(self._reset)
    for _ in range(self._batches):
      images, labels = self._train_set.next_batch(self._batch_size)
      # The loss, not train_op: batch norm's in-place updates run, Adam not.
      # Fed past augmentation: the statistics of the images evaluation sees.
      session.run(self._graph.cross_entropy, {
          self._graph.network_input: images, self._graph.labels: labels})
    session.run(self._rescale)
    print('batch norm\'s moving averages recomputed over %d training batches '
          'with the weights of step %d (%.1f s)'
          % (self._batches, self._max_steps, time.time() - start))


class ValidationHook(tf.train.SessionRunHook):
  """Every `eval_every` steps and at the last, evaluates the validation split.

  The step's checkpoint (saved here if the checkpoint hook did not) is
  restored into `evaluator` (a `loader.EvalModel`), so validation sees
  exactly what the eval script would. The best accuracy so far lives in a
  variable of the checkpoints (`graph.best_accuracy`), so that a resumed run
  knows it; the best checkpoint is also saved to `<model_dir>/best/`.
  `settings` (LoopSettings) gives the model directory, the checkpoints'
  name, --eval_every and --report_test; `clock` pauses while it evaluates.
  """

  def __init__(self, evaluator, data, graph, *, settings, max_steps, saver,
               clock, class_names):
    self._evaluator, self._data = evaluator, data
    self._eval_every, self._max_steps = settings.eval_every, max_steps
    self._saver = saver
    self._save_path = os.path.join(settings.model_dir, settings.model_name)
    self._best_path = os.path.join(settings.model_dir, 'best',
                                   settings.model_name)
    self._best_accuracy, self._step = graph.best_accuracy, graph.train_op
    self._clock, self._summary_dir = clock, settings.model_dir
    self._report_test = settings.report_test
    self._class_names = class_names

  def begin(self):
    self._best_saver = tf.train.Saver(max_to_keep=1, save_relative_paths=True)
    self._new_best = tf.placeholder(tf.float32, [])
    self._assign_best = self._best_accuracy.assign(self._new_best)

  def before_run(self, run_context):
    return tf.train.SessionRunArgs(self._step)

  def after_run(self, run_context, run_values):
    step = run_values.results
    if step % self._eval_every and step != self._max_steps:
      return
    session = run_context.session
    trained = self._clock.elapsed()
    with self._clock.paused():
      path = self._saved(session, step)
      self._evaluator.restore(path)
      accuracy, loss = self._evaluator.evaluate(self._data.validation)
      _add_summary(os.path.join(self._summary_dir, 'validation'), step,
                   accuracy=accuracy, loss=loss)
      self._confusion_summary(step, accuracy)
      note = ''
      if accuracy > session.run(self._best_accuracy):
        session.run(self._assign_best, {self._new_best: accuracy})
        self._best_saver.save(session, self._best_path, global_step=step,
                              write_meta_graph=False)
        self._saver.save(session, self._save_path, global_step=step)
        note = ' (best so far)'
      print('validation accuracy %.4f at step %d%s, %s of training'
            % (accuracy, step, note, format_seconds(trained)))
      if self._report_test:
        test_accuracy = self._evaluator.evaluate(self._data.test)[0]
        _add_summary(os.path.join(self._summary_dir, 'test'), step,
                     accuracy=test_accuracy)
        print('test accuracy %.4f at step %d (reported only)'
              % (test_accuracy, step))

  def _confusion_summary(self, step, accuracy):
    """The validation confusion matrix, as an image for TensorBoard (where
    matplotlib is installed to draw it, as TensorBoard's requirements
    file installs it)."""
    if not report.can_draw():
      return
    validation = self._data.validation
    labels = validation.labels.argmax(axis=1)
    read = self._evaluator.logits_of(validation.images).argmax(axis=1)
    png = report.confusion_png(
        report.confusion_matrix(labels, read, validation.labels.shape[1]),
        self._class_names, 'validation accuracy %.2f%% at step %d'
        % (100 * accuracy, step))
    height, width = report.png_size(png)
    tf.summary.FileWriterCache.get(os.path.join(
        self._summary_dir, 'validation')).add_summary(tf.Summary(value=[
            tf.Summary.Value(tag='confusion_matrix', image=tf.Summary.Image(
                height=height, width=width, colorspace=4,
                encoded_image_string=png))]), step)

  def _saved(self, session, step):
    """The checkpoint of `step`, saving it if it is not saved yet."""
    latest = self._saver.last_checkpoints[-1:]
    if latest and latest[0].endswith('-%d' % step):
      return latest[0]
    return self._saver.save(session, self._save_path, global_step=step)


def _add_summary(directory, step, **values):
  tf.summary.FileWriterCache.get(directory).add_summary(tf.Summary(value=[
      tf.Summary.Value(tag=tag, simple_value=value)
      for tag, value in values.items()]), step)


class StopOnSignalHook(tf.train.SessionRunHook):
  """Ends the loop after the current step once `stop_request` has a signal."""

  def __init__(self, stop_request):
    self._stop_request = stop_request

  def after_run(self, run_context, run_values):
    if self._stop_request.signum is not None:
      run_context.request_stop()


class StopRequest(object):
  """The SIGINT or SIGTERM received, if any (a signal handler)."""

  def __init__(self):
    self.signum = None

  def __call__(self, signum, unused_frame):
    self.signum = signum


@contextlib.contextmanager
def stop_requested_by_signals(signals=(signal.SIGINT, signal.SIGTERM)):
  """Catches `signals` into a `StopRequest` while inside; then puts back the
  previous handlers, however the block ends."""
  stop_request = StopRequest()
  previous = {s: signal.signal(s, stop_request) for s in signals}
  try:
    yield stop_request
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, handler)
