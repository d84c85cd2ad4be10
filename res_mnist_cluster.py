"""Runs a TF1 cluster on this machine: parameter servers and workers of res_mnist.py.

    python res_mnist_cluster.py --workers=2 --max_steps=200 [res_mnist.py flags]

It picks free loopback ports, starts one process per task (`res_mnist.py`
with --ps_hosts, --worker_hosts, --job_name and --task_index added to the
flags you give), and prints their merged output, each line prefixed with its
task (`[worker0] training step 100, ...`). Worker 0 is the chief: it
checkpoints to --model_dir and prints the accuracies at the end. It exits 0
when every task has, else with the first non-zero status, after stopping the
others. Ctrl-C stops them all, the chief first so that it saves.

This is for trying distributed training on one machine (and for its tests);
on real machines, run `res_mnist.py` with the same four flags on each host
(docs/distributed.md).
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from absl import app
from absl import flags

flags.DEFINE_integer('workers', 2, 'Worker tasks (the first is the chief).',
                     lower_bound=1)
flags.DEFINE_integer('ps', 1, 'Parameter-server tasks.', lower_bound=1)
flags.DEFINE_integer('stop_timeout_secs', 60, 'How long a stopped task may '
                     'take to save and exit before it is killed.',
                     lower_bound=1)

FLAGS = flags.FLAGS

HOST = '127.0.0.1'
TRAIN_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            'res_mnist.py')
POLL_SECONDS = 0.2


def free_ports(count):
  """`count` distinct ports that are free on the loopback interface now."""
  sockets = [socket.socket() for _ in range(count)]
  try:
    for s in sockets:
      s.bind((HOST, 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def _exit_status(returncode):
  """A shell's exit status: 128 + N for a process killed by signal N."""
  return 128 - returncode if returncode < 0 else returncode


class Task(object):
  """One res_mnist.py process, its output copied to ours with a prefix."""

  _print_lock = threading.Lock()

  def __init__(self, name, argv):
    self.name = name
    # A session of its own: Ctrl-C reaches only us, and we stop the tasks
    # in order.
    self.process = subprocess.Popen(
        [sys.executable, '-u', TRAIN_SCRIPT] + argv, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True, text=True,
        errors='replace')
    self._copier = threading.Thread(target=self._copy_output, daemon=True)
    self._copier.start()

  def _copy_output(self):
    for line in self.process.stdout:
      with self._print_lock:
        print('[%s] %s' % (self.name, line), end='', flush=True)

  def stop(self, signum, timeout):
    """Sends `signum`, then SIGKILL if it is still running after `timeout`."""
    if self.process.poll() is None:
      self.process.send_signal(signum)
      try:
        self.process.wait(timeout)
      except subprocess.TimeoutExpired:
        self.process.kill()
        self.process.wait()
    self._copier.join(5)


def _interrupt(signum, frame):
  raise KeyboardInterrupt


def main(argv):
  # SIGTERM (a job scheduler, `timeout`) stops the tasks as Ctrl-C does; and
  # Ctrl-C works even if we were started with SIGINT ignored (`cmd &`).
  signal.signal(signal.SIGTERM, _interrupt)
  signal.signal(signal.SIGINT, _interrupt)
  passed_on = argv[1:]
  for flag in ('--ps_hosts', '--worker_hosts', '--job_name', '--task_index'):
    if any(arg.split('=')[0] == flag for arg in passed_on):
      sys.exit('res_mnist_cluster.py: error: %s is set here, one per task; '
               'give the number of tasks with --workers and --ps' % flag)
  ports = free_ports(FLAGS.ps + FLAGS.workers)
  hosts = ['%s:%d' % (HOST, port) for port in ports]
  cluster = ['--ps_hosts=' + ','.join(hosts[:FLAGS.ps]),
             '--worker_hosts=' + ','.join(hosts[FLAGS.ps:])]
  print('res_mnist_cluster.py: %d parameter server(s) at %s, %d worker(s) at '
        '%s' % (FLAGS.ps, ','.join(hosts[:FLAGS.ps]), FLAGS.workers,
                ','.join(hosts[FLAGS.ps:])), flush=True)
  ps = [Task('ps%d' % i, passed_on + cluster + ['--job_name=ps',
                                                  '--task_index=%d' % i])
        for i in range(FLAGS.ps)]
  workers = [Task('worker%d' % i, passed_on + cluster + [
      '--job_name=worker', '--task_index=%d' % i])
             for i in range(FLAGS.workers)]
  # Workers first (the chief saves as it stops), then the parameter servers.
  in_stop_order = workers + ps
  print('res_mnist_cluster.py: started %s' % ', '.join(
      '%s (pid %d)' % (task.name, task.process.pid) for task in ps + workers),
        flush=True)
  try:
    while True:
      failed = [task for task in in_stop_order
                if task.process.poll() not in (None, 0)]
      if failed:
        status = _exit_status(failed[0].process.returncode)
        print('res_mnist_cluster.py: %s exited with status %d; stopping the '
              'others' % (failed[0].name, status), file=sys.stderr)
        for task in in_stop_order:
          task.stop(signal.SIGTERM, FLAGS.stop_timeout_secs)
        sys.exit(status)
      if all(task.process.poll() == 0 for task in in_stop_order):
        return
      time.sleep(POLL_SECONDS)
  except KeyboardInterrupt:
    print('res_mnist_cluster.py: interrupted; stopping the chief (it saves), '
          'then the others', file=sys.stderr, flush=True)
    for task in in_stop_order:
      task.stop(signal.SIGINT, FLAGS.stop_timeout_secs)
    sys.exit(130)


def _parse_own_flags(argv):
  """Our flags; the others are left for res_mnist.py."""
  try:
    return FLAGS(argv, known_only=True)
  except flags.Error as e:
    sys.exit('res_mnist_cluster.py: error: %s' % e)


if __name__ == '__main__':
  app.run(main, flags_parser=_parse_own_flags)
