"""Runs a TF1 cluster on this machine: parameter servers and workers of res_mnist.py.

    python res_mnist_cluster.py --workers=2 --max_steps=200 [res_mnist.py flags]

It picks free loopback ports, starts one process per task (`res_mnist.py`
with --ps_hosts, --worker_hosts, --job_name and --task_index added to the
flags you give), and prints their merged output, each line prefixed with its
task (`[worker0] training step 100, ...`). Worker 0 is the chief: it
checkpoints to --model_dir and prints the accuracies at the end. It exits 0
when every task has, else with the first non-zero status, after stopping the
others. Ctrl-C stops them all, the chief first so that it saves.

The tasks run in a network namespace of their own (Linux; an unprivileged
user namespace where the user is not root), whose only interface is its
own loopback: TensorFlow's servers listen on every interface with no
authentication, and there no other machine, and no other process of this
machine, can reach them. Where the OS does not allow it, one line says so
at start, and the tasks listen on this machine's interfaces.

This is for trying distributed training on one machine (and for its tests);
on real machines, run `res_mnist.py` with the same four flags on each host
(docs/distributed.md#security).
"""
import ctypes
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from absl import app
from absl import flags

flags.DEFINE_integer('workers', 2, 'Worker tasks (the first is the chief).',
                     lower_bound=1)
flags.DEFINE_integer('ps', 1, 'Parameter-server tasks.', lower_bound=1)
flags.DEFINE_bool('private_network', True, 'Run the tasks in a network '
                  'namespace of their own, reachable from no other machine '
                  'or process; off: on this machine\'s interfaces.')
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


# From <sched.h> and <linux/sockios.h>, <net/if.h>.
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def _loopback_up():
  """Brings up the loopback interface of this network namespace."""
  with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    request = struct.pack('16sH14x', b'lo', 0)
    flags_now = struct.unpack('16sH', fcntl.ioctl(s, SIOCGIFFLAGS,
                                                   request)[:18])[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack('16sH14x', b'lo',
                                             flags_now | IFF_UP))


def _unshare_network():
  """Moves this process into a network namespace of its own, with only its
  loopback up. Returns None, or why it could not (a phrase)."""
  libc = ctypes.CDLL(None, use_errno=True)
  uid, gid = os.getuid(), os.getgid()
  # Root may make a network namespace alone; a user needs a user namespace
  # too, in which it is root, mapped to itself.
  error = 'no unshare(2) here'
  for new in ([CLONE_NEWNET] if uid == 0 else []) + [
      CLONE_NEWNET | CLONE_NEWUSER]:
    if hasattr(libc, 'unshare') and libc.unshare(new) == 0:
      break
    error = 'unshare(2): %s' % os.strerror(ctypes.get_errno())
  else:
    return error
  try:
    if new & CLONE_NEWUSER:
      for name, text in (('setgroups', 'deny'), ('uid_map', '0 %d 1' % uid),
                         ('gid_map', '0 %d 1' % gid)):
        with open('/proc/self/' + name, 'w') as f:
          f.write(text)
    _loopback_up()
  except OSError as e:
    return 'its loopback cannot be brought up (%s)' % (e.strerror or e)
  return None


def enter_private_network():
  """`_unshare_network` for this process and the tasks it will start, if a
  trial in a child process shows that it works (a namespace without its
  loopback cannot be left). Returns None, or why not."""
  read_end, write_end = os.pipe()
  child = os.fork()
  if child == 0:  # the trial
    os.close(read_end)
    os.write(write_end, (_unshare_network() or '').encode())
    os._exit(0)
  os.close(write_end)
  with os.fdopen(read_end, 'rb') as f:
    why_not = f.read().decode()
  os.waitpid(child, 0)
  return why_not or _unshare_network()


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
  why_not = (enter_private_network() if FLAGS.private_network
             else '--noprivate_network')
  if why_not:
    print('res_mnist_cluster.py: the tasks are not in a private network '
          '(%s): their servers listen on every interface of this machine, '
          'unauthenticated; allow unprivileged user namespaces (see '
          'docs/distributed.md#security) or use it on a trusted network '
          'only' % why_not, file=sys.stderr, flush=True)
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
