"""Distributed training on loopback: a parameter server and workers as processes.

Every cluster here is on 127.0.0.1 with free ports, every process has a hard
time limit and is killed by its PID at the end whatever happens, and each
test checks that none is left behind.
"""
import os
import re
import signal
import time
import types

import pytest

import conftest
import res_mnist_cluster
from conftest import (SMALL, in_training_graph, one_line_error, run_script,
                      tf)
from resmnist import cluster as clusters
from resmnist.recipe import Recipe

# Each test runs the scripts for real: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow

HARD_LIMIT_SECONDS = 240
RUN = SMALL + ['--log_every=10', '--save_every=10']


def Process(script, *args, fresh=False):  # noqa: N802  (a class)
  return conftest.Process(script, *args, merge=True, fresh=fresh)


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  # A zombie is gone for our purpose: it holds no port and runs nothing.
  with open('/proc/%d/stat' % pid) as f:
    return f.read().split(')')[-1].split()[0] != 'Z'


def _kill_all(pids):
  for pid in pids:
    try:
      os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
      pass


def _task_pids(output):
  return [int(pid) for pid in re.findall(r'\(pid (\d+)\)', output)]


def _listening_ports():
  """The TCP ports listening in this test's network namespace (the
  machine's), from /proc/net/tcp and tcp6 (state 0A: LISTEN)."""
  ports = set()
  for path in ('/proc/net/tcp', '/proc/net/tcp6'):
    with open(path) as f:
      for line in f.readlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == '0A':
          ports.add(int(local.rsplit(':', 1)[1], 16))
  return ports


def _task_ports(output):
  hosts = re.search(r'parameter server\(s\) at (\S+), \d+ worker\(s\) at (\S+)',
                    output)
  return {int(host.rsplit(':', 1)[1])
          for host in (hosts.group(1) + ',' + hosts.group(2)).split(',')}


def _run_cluster(*args, fresh=False):
  """`res_mnist_cluster.py` with `args`; its output and status. Once the
  chief trains, checks that no task listens in this machine's network (the
  launcher's private network)."""
  launcher = Process('res_mnist_cluster.py', *args, fresh=fresh)
  pids = []
  try:
    launcher.wait_for(r'pid', time.time() + 60)
    try:
      launcher.wait_for(r'^\[worker0\] training step', time.time() + 120)
      training = True
    except AssertionError:  # ended (or failed) before its first log line
      training = False
    if training and 'not in a private network' not in launcher.output:
      assert not _task_ports(launcher.output) & _listening_ports()
    returncode = launcher.wait(time.time() + HARD_LIMIT_SECONDS)
  finally:
    pids = _task_pids(launcher.output)
    leftovers = [pid for pid in pids + [launcher.popen.pid] if _alive(pid)]
    _kill_all(leftovers)
  assert not leftovers, 'processes left behind: %s' % leftovers
  return launcher.output, returncode


def _single_process_variables(model_dir, **recipe):
  """What a one-process run of `recipe` saves, by name."""
  return in_training_graph(Recipe(**recipe), model_dir, lambda _: sorted(
      v.op.name for v in tf.global_variables()))


def test_async_cluster_trains_saves_and_evaluates(small_data, tmp_path):
  model_dir = str(tmp_path / 'model')
  output, returncode = _run_cluster(
      '--workers=2', '--net=lenet5', '--data_dir=' + small_data,
      '--model_dir=' + model_dir, '--max_steps=30', *RUN,
      fresh=True)  # as a user starts it
  assert returncode == 0, output
  assert re.search(r'^\[ps0\] parameter server 0: all 2 worker\(s\) done',
                   output, re.M), output
  assert re.search(r'^\[worker1\] worker 1 done at step \d+', output, re.M)
  final = int(re.search(r'^\[worker0\] Model saved to .*-(\d+)$', output,
                        re.M).group(1))
  assert final >= 30
  checkpoint = tf.train.latest_checkpoint(model_dir)
  assert checkpoint.endswith('-%d' % final)
  assert sorted(name for name, _ in tf.train.list_variables(checkpoint)) == \
      _single_process_variables(str(tmp_path / 'one'), net='lenet5')
  assert float(re.search(r'^\[worker0\] test accuracy (\S+)', output,
                         re.M).group(1)) > 0.5
  # The chief's checkpoint is an ordinary one (same variables, model.json):
  # eval reads it as it reads any other, so predict and export, which load
  # through the same loader, need nothing else either.
  assert os.path.exists(os.path.join(model_dir, 'model.json'))
  result = run_script('res_mnist_eval.py', '--data_dir=' + small_data,
                      '--model_dir=' + model_dir, '--nocheck_sha256')
  assert result.returncode == 0, result.stderr
  assert 'step %d' % final in result.stdout


def test_sync_cluster_trains_in_lockstep_and_says_it_is_not_private(
    small_data, tmp_path):
  """Sync training; and, with --noprivate_network, the launcher and each
  server say once that the servers listen on every interface."""
  model_dir = str(tmp_path / 'model')
  output, returncode = _run_cluster(
      '--workers=2', '--sync_replicas', '--net=lenet5', '--noprivate_network',
      '--data_dir=' + small_data, '--model_dir=' + model_dir,
      '--max_steps=30', *RUN)
  assert returncode == 0, output
  assert output.count('are not in a private network (--noprivate_network): '
                      'their servers listen on every interface') == 1, output
  assert output.count('[ps0] note: this ps task\'s TensorFlow server '
                      'listens') == 1, output
  # Sync: one update per pair of batches, so the step ends exactly at 30.
  assert re.search(r'^\[worker0\] Model saved to .*-30$', output, re.M), output
  assert 'Traceback' not in output
  assert re.search(r'^\[worker0\] training step 30, loss', output, re.M)
  # SyncReplicasOptimizer aggregates 2 gradients from any workers: a worker
  # that starts late on a busy machine finds the chief has done the work.
  assert re.search(r'^\[worker1\] (training step 30, loss|Already at step '
                   r'30)', output, re.M), output


def test_killed_workers_the_others_go_on_and_the_chief_resumes(small_data,
                                                              tmp_path):
  """Async: worker 1 killed, the chief killed and rerun, the ps then ends."""
  ports = res_mnist_cluster.free_ports(3)
  flags = ['--ps_hosts=127.0.0.1:%d' % ports[0],
           '--worker_hosts=127.0.0.1:%d,127.0.0.1:%d' % tuple(ports[1:]),
           '--net=lenet5', '--data_dir=' + small_data,
           '--model_dir=' + str(tmp_path / 'model'), '--max_steps=300',
           '--cluster_wait_secs=5'] + RUN
  deadline = time.time() + HARD_LIMIT_SECONDS
  ps = Process('res_mnist.py', '--job_name=ps', *flags)
  chief = Process('res_mnist.py', '--job_name=worker', '--task_index=0', *flags)
  worker = Process('res_mnist.py', '--job_name=worker', '--task_index=1',
                   *flags)
  processes = [ps, chief, worker]
  try:
    worker.wait_for(r'^training step [1-9]\d, ', deadline)
    worker.popen.kill()
    chief.wait_for(r'^training step (?:[5-9]\d|1\d\d), ', deadline)
    chief.popen.kill()
    saved = tf.train.latest_checkpoint(str(tmp_path / 'model'))
    assert saved, chief.output
    rerun = Process('res_mnist.py', '--job_name=worker', '--task_index=0',
                    *flags)
    processes.append(rerun)
    restored = rerun.wait_for(r'^Restored .*-(\d+): continuing from step (\d+)',
                              deadline)
    assert int(restored.group(2)) >= int(saved.rsplit('-', 1)[1]), (
        saved, chief.output, rerun.output)
    assert rerun.wait(deadline) == 0, rerun.output
    assert re.search(r'^test accuracy ', rerun.output, re.M)
    # Worker 1 never says it is done: the ps waits 5 s for it, then ends.
    assert ps.wait(deadline) == 0, ps.output
    assert 'worker(s) 1 did not finish' in ps.output
    # On this machine's network, each server says once that it is open.
    assert ps.output.count('note: this ps task\'s TensorFlow server listens '
                           'on port %d of every interface' % ports[0]) == 1, (
                               ps.output)
  finally:
    pids = [p.popen.pid for p in processes]
    leftovers = [pid for pid in pids if _alive(pid)]
    _kill_all(pids)
  assert not leftovers


def test_unreachable_parameter_server_is_one_line(small_data, tmp_path):
  ps_port, worker_port = res_mnist_cluster.free_ports(2)  # nothing listens
  start = time.time()
  result = run_script(
      'res_mnist.py', '--ps_hosts=127.0.0.1:%d' % ps_port,
      '--worker_hosts=127.0.0.1:%d' % worker_port, '--job_name=worker',
      '--cluster_wait_secs=3', '--data_dir=' + small_data,
      '--model_dir=' + str(tmp_path / 'model'), *RUN, timeout=120)
  line = one_line_error(result)
  assert 'cannot reach parameter server 0 at 127.0.0.1:%d after 3 s' % ps_port \
      in line
  assert time.time() - start < 100


def test_bad_host_list_is_one_line(small_data, tmp_path):
  result = run_script('res_mnist.py', '--ps_hosts=localhost',
                      '--worker_hosts=localhost:2', '--job_name=ps',
                      '--data_dir=' + small_data,
                      '--model_dir=' + str(tmp_path / 'model'), *RUN,
                      timeout=120)
  assert "--ps_hosts: 'localhost' is not host:port" in one_line_error(result)


def _flags(ps_hosts=None, worker_hosts=None, job_name=None, task_index=0,
           **more):
  """The cluster's flag values, as `clusters.define_flags` declares them."""
  values = dict(ps_hosts=ps_hosts, worker_hosts=worker_hosts,
                job_name=job_name, task_index=task_index, sync_replicas=False,
                cluster_wait_secs=120)
  values.update(more)
  return types.SimpleNamespace(**values)


@pytest.mark.parametrize('ps_hosts, worker_hosts, job_name, task_index, '
                         'message', [
    ('a:1', 'a:2,a:2', 'worker', 0, 'listed twice'),
    ('a:1', 'b', 'worker', 0, "'b' is not host:port"),
    ('a:1', 'a:1', 'worker', 0, 'a:1 is both a ps and a worker'),
    ('a:1', 'a:2', 'worker', 1, 'task index 1 is not among the 1 worker'),
    ('a:1', 'a:2', 'chief', 0, "the job must be ps or worker, not 'chief'"),
    ('a:1', None, 'worker', 0, 'go together'),
    ('a:1', 'a:99999', 'worker', 0, "'a:99999' is not host:port"),
])
def test_bad_host_lists(ps_hosts, worker_hosts, job_name, task_index,
                        message):
  with pytest.raises(clusters.ClusterError, match=re.escape(message)):
    clusters.from_flags(_flags(ps_hosts, worker_hosts, job_name, task_index),
                        {})


def test_tf_config_as_kubernetes_tfjob_sets_it():
  config = ('{"cluster": {"chief": ["c:1"], "worker": ["w:1", "w2:1"], '
            '"ps": ["p:1"]}, "task": {"type": "worker", "index": 1}}')
  cluster = clusters.from_flags(_flags(), {'TF_CONFIG': config})
  assert cluster.spec.as_dict() == {'ps': ['p:1'],
                                    'worker': ['c:1', 'w:1', 'w2:1']}
  assert (cluster.job_name, cluster.task_index) == ('worker', 2)
  assert not cluster.is_chief
  chief = clusters.from_tf_config(config.replace('"worker", "index": 1',
                                                 '"chief", "index": 0'))
  assert chief.is_chief
  # The flags win over TF_CONFIG; neither means one process.
  assert clusters.from_flags(_flags('a:1', 'b:1', 'ps'),
                             {'TF_CONFIG': config}).job_name == 'ps'
  assert clusters.from_flags(_flags(), {}) is None
  # The cluster carries how it trains.
  synced = clusters.from_flags(_flags('a:1', 'b:1', 'ps', sync_replicas=True,
                                      cluster_wait_secs=7), {})
  assert (synced.sync_replicas, synced.wait_secs) == (True, 7)
  assert clusters.replicas(synced) == 1 and clusters.replicas(None) == 1
  for bad in ('{', '{"cluster": {}}', '{"cluster": {"evaluator": ["e:1"], '
              '"ps": ["p:1"], "worker": ["w:1"]}, "task": {"type": "ps"}}'):
    with pytest.raises(clusters.ClusterError):
      clusters.from_tf_config(bad)


def test_a_worker_of_another_network_says_so_at_once(small_data, tmp_path):
  ports = res_mnist_cluster.free_ports(3)
  flags = ['--ps_hosts=127.0.0.1:%d' % ports[0],
           '--worker_hosts=127.0.0.1:%d,127.0.0.1:%d' % tuple(ports[1:]),
           '--data_dir=' + small_data, '--model_dir=' + str(tmp_path / 'model'),
           '--max_steps=100000', '--cluster_wait_secs=60'] + RUN
  deadline = time.time() + HARD_LIMIT_SECONDS
  ps = Process('res_mnist.py', '--job_name=ps', *flags)
  chief = Process('res_mnist.py', '--job_name=worker', '--task_index=0',
                  '--net=lenet5', *flags)
  processes = [ps, chief]
  try:
    chief.wait_for(r'^training step \d+, ', deadline)
    started = time.time()
    worker = Process('res_mnist.py', '--job_name=worker', '--task_index=1',
                     '--net=deep_mnist', *flags)
    processes.append(worker)
    assert worker.wait(deadline) == 1
    # At once: start-up and one look at the parameter server, not the 60 s
    # that a worker waits for a chief that has not started.
    assert time.time() - started < 45
    lines = [line for line in worker.output.strip().splitlines()
             if not line.startswith('note: ')]  # its open server, on loopback
    assert len(lines) == 1, worker.output
    assert re.match(r'res_mnist.py: error: this worker would train '
                    r'\{"dataset": "mnist", "net": "deep_mnist", .*\}, but '
                    r'the chief trains \{.*"net": "lenet5".*\}: give every '
                    r'task the same --net, --dataset', lines[0]), lines[0]
  finally:
    _kill_all([p.popen.pid for p in processes])
