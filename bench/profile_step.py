"""Where a training step's time goes: per op type, from TensorFlow's trace.

    python bench/profile_step.py                 # one graph
    python bench/profile_step.py --towers=2      # towers
    python bench/profile_step.py --towers=2 --bfloat16
    python bench/profile_step.py --net=sprint_cnn --batch_size=128 --bfloat16
    python bench/profile_step.py --preset=sprint # a preset, --fast included
    TF_ENABLE_ONEDNN_OPTS=0 python bench/profile_step.py   # Eigen's kernels

Runs res_mnist.py's training loop itself (`res_mnist.train`: its graph,
session config, hooks and `next_batch` feeding) on the recipe that
res_mnist.py's flags give (its --net, --towers, --batch_size, --bfloat16,
--preset and the rest; --seed defaults to 0 here), in a temporary model
directory, without validation. A hook leaves the first --untraced_steps
steps untraced, traces the next --steps (`RunOptions.FULL_TRACE`), then
stops the loop; the script prints, per step: the wall time, the sum of the
ops' times, and the op types that take the most (oneDNN's kernels are named
`_MklNative...` or `_Fused...`; Eigen's have the plain names). The data is
MNIST (or --dataset's) from its directory (--data_dir) if its four files
are there, else random images and labels. With one graph the ops run one
after another, each on every core; with towers two ops run at once, one
core each, so their times add up to about twice the wall time when both
cores are busy. A traced step is slower than an untimed one: compare runs
of this script, not its times with the bench's.
"""
import collections
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from resmnist import cli  # noqa: E402
cli.start()  # before TensorFlow loads, as the scripts do

from absl import flags  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

from nets import models  # noqa: E402
# The training loop profiled, and its flags (--net, --towers, --batch_size,
# --bfloat16, ...): the recipe to profile.
import res_mnist  # noqa: E402
from resmnist import input_data  # noqa: E402
from resmnist import recipe as recipes  # noqa: E402
from resmnist import runtime  # noqa: E402
from resmnist import trainer  # noqa: E402
from resmnist.recipe import LoopSettings, Recipe  # noqa: E402

flags.DEFINE_integer('untraced_steps', 20, 'Untraced steps first.',
                     lower_bound=0)
flags.DEFINE_integer('steps', 10, 'Traced steps.', lower_bound=1)
flags.DEFINE_integer('top', 12, 'Op types (or ops) to list.')
flags.DEFINE_bool('by_op', False, 'List single ops (e.g. which convolution\'s '
                  'gradient) instead of op types.')

FLAGS = flags.FLAGS


class TraceHook(tf.train.SessionRunHook):
  """Traces the steps after the first `untraced` (FULL_TRACE), `traced` of
  them, then stops the loop; `walls` and `busy` are each traced step's wall
  time and the sum of its ops' times, in seconds, and `by_label` the ops'
  microseconds per op type (or per op, with `by_op`)."""

  def __init__(self, untraced, traced, by_op):
    self._untraced, self._traced, self._by_op = untraced, traced, by_op
    self._runs = 0
    self.walls, self.busy = [], []
    self.by_label = collections.Counter()

  def _tracing(self):
    return self._runs >= self._untraced

  def before_run(self, run_context):
    if not self._tracing():
      return None
    self._start = time.perf_counter()
    return tf.train.SessionRunArgs(None, options=tf.RunOptions(
        trace_level=tf.RunOptions.FULL_TRACE))

  def after_run(self, run_context, run_values):
    if self._tracing():
      # The step's run, the loop's and its hooks' fetches (as run_metadata
      # covers them), not this hook's reading of the trace.
      self.walls.append(time.perf_counter() - self._start)
      self.busy.append(self._add(run_values.run_metadata) / 1e6)
    self._runs += 1
    if len(self.walls) >= self._traced:
      run_context.request_stop()

  def _add(self, metadata):
    """Adds a step's op times to `by_label`; returns their sum (us)."""
    total = 0
    for device in metadata.step_stats.dev_stats:
      for node in device.node_stats:
        # timeline_label: "name = Op(inputs)"; the op type is before "(".
        op_type = node.timeline_label.split(' = ', 1)[-1].split('(', 1)[0]
        label = ('%s %s' % (op_type, node.node_name) if self._by_op
                 else op_type or node.node_name)
        self.by_label[label] += node.all_end_rel_micros
        total += node.all_end_rel_micros
    return total


def recipe_of_flags():
  """The Recipe res_mnist.py trains with these flags (--preset, --fast),
  seed 0 unless --seed is given, and steps enough for the hook to stop."""
  recipes.apply_preset(FLAGS)
  recipe = recipes.from_flags(
      Recipe, FLAGS, seed=0 if FLAGS.seed is None else FLAGS.seed,
      # No --epochs: the loop must not end before the hook stops it.
      epochs=0.0, max_steps=max(10 ** 6, FLAGS.untraced_steps + FLAGS.steps))
  if recipe.fast:
    recipe = res_mnist._fast(recipe)  # prints what it chose
  return recipe


def read_data(recipe):
  """--dataset from --data_dir (or its own directory) if its four files are
  there, else random images and labels; (data, where)."""
  directory = (FLAGS.data_dir if FLAGS['data_dir'].present else
               os.path.join(ROOT, input_data.DATASETS[recipe.dataset].data_dir))
  names = (input_data.TRAIN_IMAGES, input_data.TRAIN_LABELS,
           input_data.TEST_IMAGES, input_data.TEST_LABELS)
  if all(os.path.exists(os.path.join(directory, name)) for name in names):
    return input_data.read_dataset(
        recipe.dataset, directory, FLAGS.check_sha256,
        recipe.validation_size, recipe.seed), directory
  rng = np.random.RandomState(0)
  data_set = input_data.DataSet(
      (rng.rand(11000, input_data.IMAGE_PIXELS) * 255).astype(np.uint8),
      rng.randint(0, input_data.NUM_CLASSES, 11000).astype(np.uint8),
      seed=recipe.seed)
  return input_data.Datasets(data_set, data_set, data_set), (
      'random data (%s has no %s)' % (directory, recipe.dataset))


def main(_):
  recipe = recipe_of_flags()
  data, where = read_data(recipe)
  trainer.check_batch_size(recipe.batch_size, data.train.num_examples)
  hook = TraceHook(FLAGS.untraced_steps, FLAGS.steps, FLAGS.by_op)
  with tempfile.TemporaryDirectory() as model_dir:
    # Checkpoints and log lines out of the way (the first checkpoint is
    # written before the first step, the last after the loop).
    settings = LoopSettings(model_dir=model_dir, log_every=10 ** 6,
                            save_every=10 ** 6, max_to_keep=1, fresh=True)
    trainer.check(recipe, settings, models.describe(recipe))
    # Its closing lines name the temporary model directory: not shown.
    with contextlib.redirect_stdout(io.StringIO()):
      res_mnist.train(data, recipe, settings, evaluate=False,
                      extra_hooks=[hook])
  print('%s, %d cores; oneDNN %s; %s, towers %d, batch %d, %s; %s' % (
      runtime.cpu_model(), runtime.num_cores(),
      'on' if runtime.onednn_enabled() else 'off (Eigen)', recipe.net,
      recipe.towers, recipe.batch_size,
      'bfloat16' if recipe.bfloat16 else 'fp32', where))
  print('traced step: wall %.1f ms, ops %.1f ms (medians of %d)' % (
      1e3 * statistics.median(hook.walls), 1e3 * statistics.median(hook.busy),
      len(hook.walls)))
  width = 90 if FLAGS.by_op else 40
  print('%-*s %10s %7s' % (width, 'op' if FLAGS.by_op else 'op type',
                           'ms / step', 'share'))
  everything = sum(hook.by_label.values())
  for label, micros in hook.by_label.most_common(FLAGS.top):
    print('%-*s %10.2f %6.1f%%' % (width, label[:width],
                                   micros / 1e3 / len(hook.walls),
                                   100.0 * micros / everything))


if __name__ == '__main__':
  cli.run(main)
