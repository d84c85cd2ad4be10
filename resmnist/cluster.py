"""Training on several machines: TF1's between-graph replication over gRPC.

As in TensorFlow's `mnist_replica.py`: parameter-server tasks hold the
variables (`replica_device_setter`), every worker task builds the same graph
and trains it, and worker 0, the chief, initialises or restores the
variables, validates and writes the checkpoints. The cluster comes from the
classic flags (`--ps_hosts`, `--worker_hosts`, `--job_name`, `--task_index`)
or, without them, from the `TF_CONFIG` environment variable that Kubernetes'
TFJob and other launchers set; with neither, training is one process.

What TF1 leaves to each script, done here: the parameter servers end when
the work is done (each worker puts its index on a "done" queue that every
parameter server holds), a task that cannot reach the parameter servers says
so after a bounded wait, non-chief workers notice the chief's initialisation
within a second (not TensorFlow's 30), and each session talks only to the
parameter servers and itself (`device_filters`), so that it does not wait
for every other task.
"""
import collections
import contextlib
import json
import signal
import socket
import threading
import time

from absl import flags
import tensorflow.compat.v1 as tf

from resmnist import errors
from resmnist import hooks
from resmnist import runtime

# How often a waiting task looks again (and notices Ctrl-C).
POLL_SECONDS = 1.0


class ClusterError(errors.Error):
  """The cluster is misdescribed or a task cannot be reached."""


def define_flags():
  """The cluster's flags: --ps_hosts, --worker_hosts, --job_name,
  --task_index (or the TF_CONFIG environment variable instead),
  --sync_replicas and --cluster_wait_secs."""
  flags.DEFINE_string('ps_hosts', None, 'Parameter servers, host:port,...; '
                      'with --worker_hosts and --job_name, this process is '
                      'one task of a cluster. Without them, TF_CONFIG is '
                      'read; with neither, training is one process.')
  flags.DEFINE_string('worker_hosts', None, 'Workers, host:port,...; the '
                      'first is the chief, which checkpoints and validates. '
                      '--batch_size is per worker.')
  flags.DEFINE_enum('job_name', None, ['ps', 'worker'], 'This task\'s job.')
  flags.DEFINE_integer('task_index', 0, 'This task\'s index in its job.',
                       lower_bound=0)
  flags.DEFINE_bool('sync_replicas', False, 'Average as many gradients as '
                    'there are workers in each update (SyncReplicasOptimizer); '
                    'default: each worker updates as it goes (async).')
  flags.DEFINE_integer('cluster_wait_secs', 120, 'How long a task waits for '
                       'another: a worker for the parameter servers and the '
                       'chief\'s initialisation, a parameter server for the '
                       'other workers to finish once the chief has.',
                       lower_bound=1)


class Cluster(collections.namedtuple(
    'Cluster', 'spec job_name task_index source sync_replicas wait_secs',
    defaults=(False, 120))):
  """A `tf.train.ClusterSpec`, this task's place in it, and how it trains.

  `source` names where it came from ('flags' or 'TF_CONFIG'), for messages;
  `sync_replicas`: every update averages as many gradients as workers;
  `wait_secs`: how long a task waits for another.
  """

  @property
  def num_workers(self):
    return self.spec.num_tasks('worker')

  @property
  def is_chief(self):
    return self.job_name == 'worker' and self.task_index == 0

  @property
  def device(self):
    return '/job:%s/task:%d' % (self.job_name, self.task_index)

  def address(self, job, index):
    return self.spec.task_address(job, index)


def _hosts(text, flag):
  """`host:port` strings of a comma-separated list, checked."""
  hosts = [host.strip() for host in text.split(',')]
  for host in hosts:
    name, _, port = host.rpartition(':')
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
      raise ClusterError('%s: %r is not host:port (e.g. 10.0.0.1:2222)'
                         % (flag, host))
  if len(set(hosts)) < len(hosts):
    raise ClusterError('%s: a host:port is listed twice: %s' % (flag, text))
  return hosts


def _make(jobs, job_name, task_index, *, source, where):
  """The `Cluster` after checking what every source must get right."""
  if not jobs.get('ps') or not jobs.get('worker'):
    raise ClusterError('%s: a cluster needs at least one ps and one worker '
                       'host' % where)
  shared = set(jobs['ps']) & set(jobs['worker'])
  if shared:
    raise ClusterError('%s: %s is both a ps and a worker' % (where,
                                                            sorted(shared)[0]))
  if job_name not in jobs:
    raise ClusterError('%s: the job must be ps or worker, not %r'
                       % (where, job_name))
  if not 0 <= task_index < len(jobs[job_name]):
    raise ClusterError('%s: task index %d is not among the %d %s task(s)'
                       % (where, task_index, len(jobs[job_name]), job_name))
  return Cluster(tf.train.ClusterSpec(jobs), job_name, task_index, source)


def from_flags(values, environ):
  """The cluster of the flags in `values` (`define_flags`'), else of
  `environ['TF_CONFIG']`, else None."""
  if values.ps_hosts or values.worker_hosts or values.job_name:
    if not (values.ps_hosts and values.worker_hosts and values.job_name):
      raise ClusterError('--ps_hosts, --worker_hosts and --job_name go '
                         'together: give all three (and --task_index), or '
                         'none for one process')
    jobs = {'ps': _hosts(values.ps_hosts, '--ps_hosts'),
            'worker': _hosts(values.worker_hosts, '--worker_hosts')}
    cluster = _make(jobs, values.job_name, values.task_index, source='flags',
                    where='--job_name/--task_index')
  elif environ.get('TF_CONFIG'):
    cluster = from_tf_config(environ['TF_CONFIG'])
  else:
    return None
  return cluster._replace(sync_replicas=values.sync_replicas,
                          wait_secs=values.cluster_wait_secs)


def from_tf_config(text):
  """The cluster of a `TF_CONFIG` value (JSON with "cluster" and "task").

  A "chief" job (as TFJob names it) becomes worker 0 and the "worker" tasks
  follow it, so that the chief's index here is 0 as with the flags.
  """
  try:
    config = json.loads(text)
    cluster, task = config['cluster'], config['task']
    job_name, task_index = task['type'], int(task.get('index', 0))
    chief = list(cluster.get('chief', []))
    jobs = {'ps': list(cluster.get('ps', [])),
            'worker': chief + list(cluster.get('worker', []))}
  except (ValueError, KeyError, TypeError, AttributeError) as e:
    raise ClusterError('TF_CONFIG is not {"cluster": {...}, "task": {"type": '
                       '..., "index": ...}} (%s: %s)' % (type(e).__name__, e))
  unknown = set(cluster) - {'chief', 'ps', 'worker'}
  if unknown:
    raise ClusterError('TF_CONFIG: job(s) %s are not supported here (only '
                       'chief, worker and ps)' % ', '.join(sorted(unknown)))
  if len(chief) > 1:
    raise ClusterError('TF_CONFIG: there can be one chief, not %d'
                       % len(chief))
  if job_name == 'chief':
    job_name = 'worker'
  elif job_name == 'worker':
    task_index += len(chief)
  for job in jobs:
    _hosts(','.join(jobs[job]), 'TF_CONFIG %s' % job)
  return _make(jobs, job_name, task_index, source='TF_CONFIG',
               where='TF_CONFIG task')


def only_loopback():
  """Whether this process's network has no interface but its loopback (a
  private network namespace, as `res_mnist_cluster.py` makes)."""
  try:
    return all(name == 'lo' for _, name in socket.if_nameindex())
  except OSError:
    return False


def start_server(cluster, config, log=print):
  """This task's `tf.distribute.Server`.

  TensorFlow's server listens on every interface, whatever host the cluster
  names, with no authentication: `log` says so once, unless this process's
  network is its loopback alone.
  """
  address = cluster.address(cluster.job_name, cluster.task_index)
  try:
    server = tf.distribute.Server(cluster.spec, job_name=cluster.job_name,
                                  task_index=cluster.task_index, config=config)
  except (tf.errors.OpError, ValueError) as e:
    raise ClusterError('cannot start the %s %d server on %s: %s'
                       % (cluster.job_name, cluster.task_index, address,
                          str(getattr(e, 'message', e)).splitlines()[0]))
  if not only_loopback():
    log('note: this %s task\'s TensorFlow server listens on port %s of every '
        'interface of this machine, with no authentication or encryption: '
        'whoever reaches it can run TensorFlow operations in this process '
        '(read and write files). Keep the cluster on a trusted private '
        'network (docs/distributed.md#security).'
        % (cluster.job_name, address.rpartition(':')[2]))
  return server


def session_config(cluster, config):
  """`config` with the device filters of this task (ps and itself only)."""
  config = tf.ConfigProto.FromString(config.SerializeToString())
  config.device_filters[:] = ['/job:ps', cluster.device]
  return config


def is_sync(cluster):
  """Whether `cluster` (or None: one process) averages every worker's
  gradients in each update (--sync_replicas)."""
  return cluster is not None and cluster.sync_replicas


def replicas(cluster):
  """The batches of one update: every worker's if `is_sync`, else one."""
  return cluster.num_workers if is_sync(cluster) else 1


def devices(cluster):
  """A device scope: variables on the parameter servers, everything else
  on this worker; none without a cluster."""
  if cluster is None:
    return contextlib.nullcontext()
  return tf.device(tf.train.replica_device_setter(
      worker_device=cluster.device, cluster=cluster.spec))


def optimizer(cluster, local_optimizer):
  """`local_optimizer`, or if `is_sync(cluster)` a SyncReplicasOptimizer
  of it that averages as many gradients as workers in each update."""
  if not is_sync(cluster):
    return local_optimizer
  return tf.train.SyncReplicasOptimizer(
      local_optimizer, replicas_to_aggregate=cluster.num_workers,
      total_num_replicas=cluster.num_workers)


def wait_for_parameter_servers(cluster):
  """ClusterError unless every ps accepts a connection within the
  cluster's `wait_secs`.

  TensorFlow itself would wait for ever, logging every 10 s.
  """
  timeout = cluster.wait_secs
  deadline = time.time() + timeout
  for index in range(cluster.spec.num_tasks('ps')):
    address = cluster.address('ps', index)
    host, _, port = address.rpartition(':')
    while True:
      try:
        socket.create_connection((host, int(port)), timeout=POLL_SECONDS).close()
        break
      except OSError as e:
        if time.time() > deadline:
          raise ClusterError('cannot reach parameter server %d at %s after '
                             '%d s (%s); is it started, and is the port open?'
                             % (index, address, timeout,
                                e.strerror or type(e).__name__))
        time.sleep(POLL_SECONDS)


def _done_queues(cluster):
  """One queue per parameter server, on it, that workers put their index on."""
  queues = []
  for index in range(cluster.spec.num_tasks('ps')):
    with tf.device('/job:ps/task:%d' % index):
      queues.append(tf.FIFOQueue(cluster.num_workers, tf.int32, shapes=[],
                                 shared_name='done_queue_%d' % index,
                                 name='done_queue_%d' % index))
  return queues


def say_done(cluster, server, config):
  """Tells every parameter server that this worker has finished."""
  with tf.Graph().as_default():
    enqueues = [queue.enqueue(cluster.task_index)
                for queue in _done_queues(cluster)]
    with tf.Session(server.target, config=session_config(cluster,
                                                         config)) as sess:
      sess.run(enqueues, options=tf.RunOptions(
          timeout_in_ms=int(cluster.wait_secs * 1000)))


def serve_until_done(cluster, server, config, *, stop_request, log=print):
  """A parameter server's life: serves until the workers are done.

  Ends when the chief and every other worker have said so, or the
  cluster's `wait_secs` after the chief did (a worker that died does not
  keep it alive), or when `stop_request` (a `hooks.StopRequest`) has a
  signal.
  """
  grace_secs = cluster.wait_secs
  with tf.Graph().as_default():
    dequeue = _done_queues(cluster)[cluster.task_index].dequeue()
    done, chief_done_at = set(), None
    poll = tf.RunOptions(timeout_in_ms=int(POLL_SECONDS * 1000))
    with tf.Session(server.target,
                    config=session_config(cluster, config)) as sess:
      log('parameter server %d serving at %s for %d worker(s)'
          % (cluster.task_index, cluster.address('ps', cluster.task_index),
             cluster.num_workers))
      while len(done) < cluster.num_workers and stop_request.signum is None:
        if chief_done_at and time.time() > chief_done_at + grace_secs:
          log('parameter server %d: worker(s) %s did not finish within %d s '
              'of the chief; stopping' % (
                  cluster.task_index,
                  ', '.join(str(i) for i in range(cluster.num_workers)
                            if i not in done), grace_secs))
          break
        try:
          done.add(sess.run(dequeue, options=poll))
        except tf.errors.DeadlineExceededError:
          continue
        if 0 in done and chief_done_at is None:
          chief_done_at = time.time()
      if len(done) == cluster.num_workers:
        log('parameter server %d: all %d worker(s) done'
            % (cluster.task_index, cluster.num_workers))


def serve_parameters(cluster):
  """A parameter server task: starts its server and serves until the workers
  are done (`serve_until_done`); errors.Interrupted on SIGINT or SIGTERM."""
  config = runtime.session_config()
  with hooks.stop_requested_by_signals() as stop_request:
    serve_until_done(cluster, start_server(cluster, config), config,
                     stop_request=stop_request)
  if stop_request.signum is not None:
    raise errors.Interrupted(
        '%s: parameter server %d stopped'
        % (signal.Signals(stop_request.signum).name, cluster.task_index),
        stop_request.signum)


def quiet_cancelled_queue_runners():
  """No traceback when a closing session cancels a queue runner's step.

  The sync chief's token queue runner waits on the parameter server for
  gradients that no worker will send once training is over; closing the
  session cancels that wait, which is the end it should have, not an error.
  """
  previous = threading.excepthook

  def excepthook(args):
    if not (issubclass(args.exc_type, tf.errors.CancelledError) and
            args.thread.name.startswith('QueueRunnerThread')):
      previous(args)
  threading.excepthook = excepthook


def what_is_trained(info):
  """What a task trains, as the chief announces it: the network, its
  options and the dataset of `info` (a `model_dir.ModelInfo`), as text."""
  return json.dumps({'net': info.net, 'net_options': info.net_options,
                     'dataset': info.dataset}, sort_keys=True)


def announcement(text):
  """A variable on parameter server 0 that holds what the chief trains.

  Outside every collection: not in the checkpoints, and not among the
  variables a worker waits for. The chief initialises it (`AnnounceHook`);
  a worker reads it (`WorkerSessionCreator`), so that one started with
  another network or dataset says so at once.
  """
  with tf.device('/job:ps/task:0'):
    return tf.Variable(text, trainable=False, collections=[],
                       name='cluster_trains')


class AnnounceHook(tf.train.SessionRunHook):
  """The chief's: sets `announcement(...)` once its session exists."""

  def __init__(self, variable):
    self._variable = variable

  def after_create_session(self, session, coord):
    session.run(self._variable.initializer)


class WorkerSessionCreator(tf.train.SessionCreator):
  """A non-chief worker's session, once the chief has initialised it.

  As `tf.train.WorkerSessionCreator`, but it looks every second, not every
  30, gives up after `timeout` seconds with a ClusterError, and first
  checks that the chief trains what this worker would (`announcement`).
  """

  def __init__(self, scaffold, master, config, *, timeout, announced, mine):
    self._scaffold = scaffold
    self._master = master
    self._config = config
    self._timeout = timeout
    self._mine = mine
    self._announced = (tf.is_variable_initialized(announced),
                       announced.read_value())

  def _chiefs(self, deadline):
    """What the chief announced, once it has (None at the deadline)."""
    with tf.Session(self._master, config=self._config) as session:
      while time.time() < deadline:
        initialized, text = self._announced
        if session.run(initialized):
          return session.run(text).decode()
        time.sleep(POLL_SECONDS)
    return None

  def create_session(self):
    deadline = time.time() + self._timeout
    chiefs = self._chiefs(deadline)
    if chiefs is not None and chiefs != self._mine:
      raise ClusterError('this worker would train %s, but the chief trains '
                         '%s: give every task the same --net, --dataset and '
                         'network options' % (self._mine, chiefs))
    self._scaffold.finalize()
    manager = tf.train.SessionManager(
        local_init_op=self._scaffold.local_init_op,
        ready_op=self._scaffold.ready_op,
        ready_for_local_init_op=self._scaffold.ready_for_local_init_op,
        graph=tf.get_default_graph(), recovery_wait_secs=POLL_SECONDS)
    try:
      return manager.wait_for_session(
          self._master, config=self._config,
          max_wait_secs=max(deadline - time.time(), POLL_SECONDS))
    except tf.errors.DeadlineExceededError:
      raise ClusterError('the chief (worker 0) has not initialised the '
                         'variables after %d s; is it running?'
                         % self._timeout)
