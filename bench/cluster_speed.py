"""Training throughput of a loopback cluster against one process.

    python bench/cluster_speed.py --rounds=3 --max_steps=300

Runs, in turn and --rounds times, `res_mnist.py` (one process) and
`res_mnist_cluster.py --workers=N` async and `--sync_replicas`, with the same
recipe flags, and reads the images/s of their log lines (the first two lines
of each task, start-up, left out). A cluster's throughput is the sum of its
workers' medians. It prints the median over rounds of each configuration and
its ratio to one process, with the CPU it ran on. Alternating the
configurations in one sitting is what makes the ratios comparable on a shared
machine; the absolute numbers are this machine's.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from resmnist import runtime  # noqa: E402

flags.DEFINE_integer('rounds', 3, 'Times each configuration runs.',
                     lower_bound=1)
flags.DEFINE_integer('max_steps', 300, 'Global steps of each run.',
                     lower_bound=10)
flags.DEFINE_integer('workers', 2, 'Workers of the cluster runs.',
                     lower_bound=1)
flags.DEFINE_integer('batch_size', 100, 'Batch size per worker.',
                     lower_bound=1)
flags.DEFINE_string('net', 'resnet', 'The network.')

FLAGS = flags.FLAGS

LOG_EVERY = 25
RATE = re.compile(r'^(?:\[(\w+)\] )?training step \d+, loss \S+ '
                  r'\((\d+) images/s', re.M)


def _configurations():
  one = ['res_mnist.py']
  cluster = ['res_mnist_cluster.py', '--workers=%d' % FLAGS.workers]
  return [('one process', one),
          ('%d workers, async' % FLAGS.workers, cluster),
          ('%d workers, sync' % FLAGS.workers, cluster + ['--sync_replicas'])]


def _throughput(argv):
  """Images/s of one run: the sum over its tasks of their median rate."""
  with tempfile.TemporaryDirectory() as model_dir:
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, argv[0])] + argv[1:] + [
            '--model_dir=' + model_dir, '--net=' + FLAGS.net,
            '--max_steps=%d' % FLAGS.max_steps,
            '--batch_size=%d' % FLAGS.batch_size, '--log_every=%d' % LOG_EVERY,
            '--save_every=%d' % FLAGS.max_steps, '--seed=1'],
        cwd=ROOT, capture_output=True, text=True)
  if result.returncode:
    sys.exit('cluster_speed.py: error: %s failed: %s' % (
        ' '.join(argv), (result.stderr or result.stdout).strip()
        .splitlines()[-1]))
  rates = {}
  for task, rate in RATE.findall(result.stdout):
    rates.setdefault(task, []).append(float(rate))
  return sum(statistics.median(r[2:] or r) for r in rates.values())


def main(_):
  cpu = runtime.cpu_model()
  print('CPU: %s, %d cores; %s, batch %d per worker, %d steps'
        % (cpu, runtime.num_cores(), FLAGS.net, FLAGS.batch_size,
           FLAGS.max_steps))
  results = {name: [] for name, _ in _configurations()}
  for round_ in range(FLAGS.rounds):
    for name, argv in _configurations():
      results[name].append(_throughput(argv))
      print('round %d, %s: %.0f images/s' % (round_ + 1, name,
                                              results[name][-1]), flush=True)
  base = statistics.median(results['one process'])
  print('\n| configuration | images/s (median of %d) | vs one process |'
        % FLAGS.rounds)
  print('| --- | ---: | ---: |')
  for name, _ in _configurations():
    median = statistics.median(results[name])
    print('| %s | %.0f | %.2f |' % (name, median, median / base))


if __name__ == '__main__':
  app.run(main)
