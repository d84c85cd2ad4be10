"""Where a training step's time goes: per op type, from TensorFlow's trace.

    python bench/profile_step.py                 # one graph
    python bench/profile_step.py --towers=2      # towers
    python bench/profile_step.py --towers=2 --bfloat16
    python bench/profile_step.py --net=sprint_cnn --batch_size=128 --bfloat16
    TF_ENABLE_ONEDNN_OPTS=0 python bench/profile_step.py   # Eigen's kernels

Runs res_mnist.py's training step (its graph and session config) for
--untraced_steps, then traces --steps steps (`RunOptions.FULL_TRACE`) and
prints, per step: the wall time, the sum of the ops' times, and the op
types that take the most (oneDNN's kernels are named `_MklNative...` or
`_Fused...`; Eigen's have the plain names). With one graph the ops run one
after another, each on every core; with towers two ops run at once, one
core each, so their times add up to about twice the wall time when both
cores are busy. A traced step is slower than an untimed one: compare runs
of this script, not its times with the bench's.
"""
import collections
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from resmnist import cli  # noqa: E402
cli.start()  # before TensorFlow loads, as the scripts do

from absl import flags  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

from nets import nets_factory  # noqa: E402
from resmnist import runtime  # noqa: E402
from resmnist import training  # noqa: E402
from resmnist.recipe import Recipe  # noqa: E402

flags.DEFINE_string('net', 'resnet', 'Network of the training step (a name '
                    'of nets_factory.NETWORKS).')
flags.DEFINE_integer('towers', 1, 'Towers of the training step.')
flags.DEFINE_integer('batch_size', 100, 'Images per step.')
flags.DEFINE_bool('bfloat16', False, 'As res_mnist.py --bfloat16 (oneDNN\'s '
                  'auto mixed precision rewrite).')
flags.DEFINE_integer('untraced_steps', 20, 'Untraced steps first.')
flags.DEFINE_integer('steps', 10, 'Traced steps.')
flags.DEFINE_integer('top', 12, 'Op types (or ops) to list.')
flags.DEFINE_bool('by_op', False, 'List single ops (e.g. which convolution\'s '
                  'gradient) instead of op types.')

FLAGS = flags.FLAGS


def main(_):
  recipe = Recipe(net=FLAGS.net, towers=FLAGS.towers,
                  batch_size=FLAGS.batch_size, seed=0)
  graph = training.build_training_graph(recipe,
                                         nets_factory.network_fns(recipe)[0])
  rng = np.random.RandomState(0)
  feed = {graph.images: rng.rand(recipe.batch_size, 784).astype(np.float32),
          graph.labels: np.eye(10, dtype=np.float32)[
              rng.randint(0, 10, recipe.batch_size)]}
  sess = tf.Session(config=runtime.session_config(recipe.towers,
                                                  FLAGS.bfloat16))
  sess.run(tf.global_variables_initializer())
  for _ in range(FLAGS.untraced_steps):
    sess.run(graph.train_op, feed)
  options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
  walls, busy = [], []
  by_type = collections.Counter()
  for _ in range(FLAGS.steps):
    metadata = tf.RunMetadata()
    start = time.perf_counter()
    sess.run(graph.train_op, feed, options=options, run_metadata=metadata)
    walls.append(time.perf_counter() - start)
    total = 0
    for device in metadata.step_stats.dev_stats:
      for node in device.node_stats:
        # timeline_label: "name = Op(inputs)"; the op type is before "(".
        op_type = node.timeline_label.split(' = ', 1)[-1].split('(', 1)[0]
        label = ('%s %s' % (op_type, node.node_name) if FLAGS.by_op
                 else op_type or node.node_name)
        by_type[label] += node.all_end_rel_micros
        total += node.all_end_rel_micros
    busy.append(total / 1e6)
  print('%s, %d cores; oneDNN %s; towers %d, batch %d, %s' % (
      runtime.cpu_model(), runtime.num_cores(),
      'on' if runtime.onednn_enabled() else 'off (Eigen)', recipe.towers,
      recipe.batch_size, 'bfloat16' if FLAGS.bfloat16 else 'fp32'))
  print('traced step: wall %.1f ms, ops %.1f ms (medians of %d)' % (
      1e3 * statistics.median(walls), 1e3 * statistics.median(busy),
      FLAGS.steps))
  width = 90 if FLAGS.by_op else 40
  print('%-*s %10s %7s' % (width, 'op' if FLAGS.by_op else 'op type',
                           'ms / step', 'share'))
  everything = sum(by_type.values())
  for label, micros in by_type.most_common(FLAGS.top):
    print('%-*s %10.2f %6.1f%%' % (width, label[:width],
                                   micros / 1e3 / FLAGS.steps,
                                   100.0 * micros / everything))


if __name__ == '__main__':
  cli.run(main)
