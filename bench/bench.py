"""Training and evaluation speed of this package against the same network in Keras 3.

    python bench/bench.py         # about 10 minutes; writes bench/results-<kind>.md
    ONEDNN_MAX_CPU_ISA=AVX2 python bench/bench.py   # as on an AVX2-only CPU

The kind of CPU (`runtime.cpu_kind`: amx, bf16, avx512 or avx2) is read
from the CPU's flags, capped by ONEDNN_MAX_CPU_ISA, and names the output
file; the CPU's model and its AVX-512/BF16/AMX flags head it. bfloat16 rows
run only where the kind is amx or bf16: elsewhere bfloat16 is emulated, and
so slow that the bench would not end in its usual time; the output says
they were skipped.

Each measurement runs in a fresh process (TF1 graph mode and Keras' eager
mode cannot share one) that warms up, then times several windows of steps
(each process within --budget_seconds once it has 3 windows, so that a
slow CPU times fewer windows instead of taking twice as long);
the processes are run round-robin for --rounds rounds, so that a slow
moment of a shared machine hits every configuration alike, and each figure
is the median over all its windows. Throughput is images per second between
consecutive step ends, input feeding included.

Measured, every training row at batch 100 (the default, and --fast's batch
too):
  ours     res_mnist.py's own training step (its graph, session config and
           next_batch feeding), fp32 and --bfloat16, as one graph (the
           default) and with --towers=<cores>; the row that --fast chooses
           on this CPU is named in the output;
  keras    the same network in Keras 3 (keras.layers, model.fit, Adam on
           ExponentialDecay(0.003, 200, 0.97)), fp32 and with the
           mixed_bfloat16 policy, with TensorFlow's own choice of kernels
           (as a user runs it: on CPUs without AVX512_VNNI, AVX512_BF16,
           AVX_VNNI or AMX that is Eigen's, not oneDNN's), and where that
           is Eigen's, also with oneDNN on as this package runs;
  eval     the inference graph (dropout off) as the scripts evaluate:
           batches of 2000 in towers of 250;
  matmul   the machine's float32 and bfloat16 matrix-multiply rate;
  flops    the network's floating-point operations per image, from the TF
           profiler, forward and for a whole training step.
"""
import json
import os

# As the user's environment had it: the scripts turn oneDNN on, and the
# Keras rows run as Keras does without this package.
USER_ONEDNN_OPTS = os.environ.get('TF_ENABLE_ONEDNN_OPTS')
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from resmnist import cli  # noqa: E402
cli.start()  # before TensorFlow loads, as the scripts do

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from nets import models  # noqa: E402
from nets import nets_factory  # noqa: E402
# The training loop timed, and its --net: the network to time.
import res_mnist  # noqa: E402
from resmnist import runtime  # noqa: E402
from resmnist.recipe import LoopSettings, Recipe  # noqa: E402
from resmnist.runtime import num_cores  # noqa: E402

flags.DEFINE_integer('rounds', 3, 'Round-robin passes over the configurations.')
flags.DEFINE_integer('windows', 8, 'Timed windows per process.')
flags.DEFINE_integer('window_steps', 10, 'Steps per timed window.')
flags.DEFINE_integer('untimed_steps', 25, 'Untimed steps first.')
flags.DEFINE_float('budget_seconds', 10.0, 'Per process: warm-up ends after '
                   'this many seconds once 5 steps are done, and timing after '
                   'this many seconds of windows once 3 are done; so a slow '
                   'CPU times fewer windows instead of taking longer. 0: no '
                   'limit.', lower_bound=0)
flags.DEFINE_string('output', None, 'Markdown table to write; default '
                    'bench/results-<kind of CPU>.md.')
flags.DEFINE_string('worker', None, 'Internal: run one measurement.')
flags.DEFINE_string('config', '{}', 'Internal: the worker\'s settings, JSON.')

FLAGS = flags.FLAGS

TOWERS = num_cores()
# The CPU flags that make TensorFlow turn oneDNN on by itself
# (tensorflow/core/util/util.cc, IsMKLEnabled).
TF_ONEDNN_FLAGS = {'avx512_vnni', 'avx512_bf16', 'avx_vnni', 'amx_tile',
                   'amx_int8', 'amx_bf16'}
# What the bench reports of the CPU's flags.
REPORTED_FLAGS = ('avx2', 'fma', 'avx512f', 'avx512bw', 'avx512_vnni',
                  'avx512_bf16', 'amx_tile', 'amx_bf16')


def _keras_onednn_default():
  """Whether Keras, run without this package, gets oneDNN's kernels."""
  if USER_ONEDNN_OPTS is not None:
    return USER_ONEDNN_OPTS not in ('0', 'false', 'False')
  return bool(TF_ONEDNN_FLAGS & runtime.cpu_flags())


def _precisions():
  """The precisions the bench runs here: bf16 only where the CPU has it
  in hardware (runtime.BF16_KINDS)."""
  if runtime.cpu_kind() in runtime.BF16_KINDS:
    return (('fp32', False), ('bf16', True))
  return (('fp32', False),)


def _configs(net):
  """(name, worker, settings) of each row; ours takes a Recipe's fields."""
  towers = not models.describe(Recipe(net=net)).batch_norm
  bf16 = len(_precisions()) > 1
  rows = []
  for precision, bfloat16 in _precisions():
    rows.append(('ours %s, 1 tower' % precision, 'ours',
                 {'recipe': {'net': net, 'bfloat16': bfloat16}}))
    if towers:
      rows.append(('ours %s, towers' % precision, 'ours',
                   {'recipe': {'net': net, 'bfloat16': bfloat16,
                               'towers': TOWERS}}))
  if net == 'resnet':  # the same network in Keras 3
    onednn = _keras_onednn_default()
    for precision, policy in (('fp32', 'float32'), ('bf16', 'mixed_bfloat16')):
      if precision == 'fp32' or bf16:
        rows.append(('Keras %s' % precision, 'keras',
                     {'batch_size': 100, 'policy': policy, 'onednn': onednn}))
    if not onednn:
      rows.append(('Keras fp32, oneDNN on', 'keras',
                   {'batch_size': 100, 'policy': 'float32', 'onednn': True}))
  for precision, bfloat16 in _precisions():
    rows.append(('ours eval %s' % precision, 'eval',
                 {'net': net, 'bfloat16': bfloat16}))
  return rows + [('matmul %s' % precision, 'matmul',
                  {'dtype': 'bfloat16' if bfloat16 else 'float32'})
                 for precision, bfloat16 in _precisions()]


def _windows(step, batch_size):
  """Runs `step` warm-up + timed windows; returns images/s per window."""
  timer = WindowTimer(batch_size)
  while not timer.done():
    step()
    timer.step_ended()
  return timer.rates()


class WindowTimer(object):
  """Step end times: --untimed_steps first (fewer once --budget_seconds
  have passed after 5), then up to --windows windows of --window_steps
  (fewer once 3 of them have taken the budget)."""

  def __init__(self, batch_size):
    self._batch_size = batch_size
    self._budget = FLAGS.budget_seconds or float('inf')
    self._start = time.perf_counter()
    self._untimed = 0
    self._ends = []  # the first is the end of the last untimed step

  def step_ended(self):
    now = time.perf_counter()
    if not self._ends:
      self._untimed += 1
      if self._untimed < FLAGS.untimed_steps and not (
          self._untimed >= 5 and now - self._start > self._budget):
        return
    self._ends.append(now)

  def rates(self):
    """Images/s of each timed window."""
    ends, n = self._ends, FLAGS.window_steps
    return [self._batch_size * n / (ends[i + n] - ends[i])
            for i in range(0, len(ends) - n, n)]

  def done(self):
    windows = len(self.rates())
    timed = self._ends[windows * FLAGS.window_steps] - self._ends[0] if (
        windows) else 0.0
    return windows >= FLAGS.windows or (windows >= 3 and timed >= self._budget)


def _mnist_or_random():
  from resmnist import input_data
  try:
    return input_data.read_data_sets(os.path.join(ROOT, 'MNIST_data'), seed=0)
  except input_data.DataError:
    import numpy as np
    rng = np.random.RandomState(0)
    data_set = input_data.DataSet(
        (rng.rand(11000, 784) * 255).astype(np.uint8),
        rng.randint(0, 10, 11000).astype(np.uint8), seed=0)
    return input_data.Datasets(data_set, data_set, data_set)


def worker_ours(config):
  """res_mnist.py's training step, in its loop (`res_mnist.train`: the same
  `MonitoredSession` and hooks; no checkpoint or log line in the windows),
  timed by a hook that stops the loop once the windows are timed."""
  import tensorflow.compat.v1 as tf
  tf.disable_v2_behavior()
  recipe = Recipe(seed=0, max_steps=10 ** 6, **config['recipe'])
  timer = WindowTimer(recipe.batch_size)

  class TimingHook(tf.train.SessionRunHook):
    def after_run(self, run_context, unused_run_values):
      timer.step_ended()
      if timer.done():
        run_context.request_stop()

  settings = LoopSettings(
      model_dir=tempfile.mkdtemp(),  # gone with the machine's temp files
      log_every=10 ** 6, save_every=10 ** 6, max_to_keep=1, fresh=True)
  res_mnist.train(_mnist_or_random(), recipe, settings, evaluate=False,
                  extra_hooks=[TimingHook()])
  return timer.rates()


def worker_eval(config):
  """The scripts' evaluation: `models.load_model` of a model dir, in
  towers."""
  import tensorflow.compat.v1 as tf
  tf.disable_v2_behavior()
  from resmnist import model_dir
  test = _mnist_or_random().test
  net = config['net']
  towers = nets_factory.eval_towers(net)
  with tempfile.TemporaryDirectory() as directory:
    # A model directory of untrained weights: the speed is the same.
    with tf.Graph().as_default():
      nets_factory.get_network_fn(net)(tf.placeholder(tf.float32, [None, 784]))
      tf.train.get_or_create_global_step()
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        tf.train.Saver().save(sess, os.path.join(directory, 'my_model'),
                              global_step=0)
    model_dir.write_info(directory, models.describe(Recipe(net=net)))
    model = models.load_model(
        directory, towers=towers, log=lambda _: None,
        config=runtime.session_config(towers, config['bfloat16']))
  batch_size, position = runtime.EVAL_BATCH_SIZE, [0]

  def step():
    start = position[0] % (test.num_examples - batch_size + 1)
    model.predict(test.images[start:start + batch_size])
    position[0] += batch_size
  return _windows(step, batch_size)


def worker_keras(config):
  import numpy as np
  import keras
  from keras import layers
  keras.mixed_precision.set_global_policy(config['policy'])

  def block(net, depth, change=False):
    stride = 2 if change else 1
    residual = layers.Conv2D(depth, 3, strides=stride, padding='same',
                             activation='relu')(net)
    residual = layers.ReLU()(residual)
    if change:
      net = layers.Conv2D(depth, 1, strides=2, padding='same',
                          activation='relu')(net)
    residual = layers.Conv2D(depth, 3, padding='same', activation='relu')(residual)
    return layers.ReLU()(layers.Add()([residual, net]))

  inputs = keras.Input((784,))
  net = layers.Reshape((28, 28, 1))(inputs)
  net = layers.ReLU()(layers.Conv2D(32, 3, padding='same', activation='relu')(net))
  net = layers.MaxPooling2D(2)(net)
  for _ in range(3):
    net = block(net, 32)
  net = block(net, 64, change=True)
  for _ in range(2):
    net = block(net, 64)
  net = layers.Flatten()(net)
  net = layers.Dense(200, activation='tanh')(layers.Dropout(0.2)(net))
  logits = layers.Dense(10, dtype='float32')(layers.Dropout(0.2)(net))
  model = keras.Model(inputs, logits)
  assert model.count_params() == 890466
  model.compile(
      optimizer=keras.optimizers.Adam(
          keras.optimizers.schedules.ExponentialDecay(0.003, 200, 0.97)),
      loss=keras.losses.CategoricalCrossentropy(from_logits=True))
  mnist = _mnist_or_random()
  batch_size = config['batch_size']
  step_ends = []
  callback = keras.callbacks.LambdaCallback(
      on_train_batch_end=lambda batch, logs: step_ends.append(time.perf_counter()))
  steps = FLAGS.untimed_steps + FLAGS.windows * FLAGS.window_steps
  model.fit(mnist.train.images[:steps * batch_size],
            mnist.train.labels[:steps * batch_size], batch_size=batch_size,
            epochs=1, verbose=0, shuffle=True, callbacks=[callback])
  ends = np.array(step_ends[FLAGS.untimed_steps - 1:])
  return [batch_size * FLAGS.window_steps / (ends[i + FLAGS.window_steps] - ends[i])
          for i in range(0, FLAGS.windows * FLAGS.window_steps, FLAGS.window_steps)]


def worker_matmul(config):
  """GFLOP/s of a 2048x2048 matrix multiply, reported per window."""
  import tensorflow.compat.v1 as tf
  tf.disable_v2_behavior()
  n = 2048
  dtype = getattr(tf, config['dtype'])
  a = tf.Variable(tf.random.normal([n, n]))
  b = tf.Variable(tf.random.normal([n, n]))
  product = tf.reduce_sum(tf.matmul(tf.cast(a, dtype), tf.cast(b, dtype)))
  sess = tf.Session()
  sess.run(tf.global_variables_initializer())
  rates = _windows(lambda: sess.run(product), 1)
  return [rate * 2 * n ** 3 / 1e9 for rate in rates]


def flops_per_image(config):
  """(forward, training step) FLOPs per image, from the TF profiler."""
  import tensorflow.compat.v1 as tf
  tf.disable_v2_behavior()
  recipe = Recipe(net=config['net'], batch_size=100)
  options = tf.profiler.ProfileOptionBuilder.float_operation()
  options['output'] = 'none'
  batch = 100
  with tf.Graph().as_default() as graph:
    nets_factory.get_network_fn(config['net'])(tf.zeros([batch, 784]))
    forward = tf.profiler.profile(graph, options=options).total_float_ops
  graph_defs = []

  class GraphDefHook(tf.train.SessionRunHook):
    """Takes res_mnist.train's graph, and stops before its first step."""
    def after_create_session(self, session, coord):
      graph_defs.append(tf.get_default_graph().as_graph_def())
      coord.request_stop()

  settings = LoopSettings(model_dir=tempfile.mkdtemp(), fresh=True)
  res_mnist.train(_mnist_or_random(), recipe, settings, evaluate=False,
                  extra_hooks=[GraphDefHook()])
  with tf.Graph().as_default() as graph:
    # Static shapes let the profiler count every op.
    x = tf.zeros([batch, 784])
    y_ = tf.one_hot(tf.zeros([batch], tf.int32), 10)
    tf.import_graph_def(graph_defs[0], input_map={'x-input:0': x,
                                                  'y-input:0': y_}, name='')
    total = tf.profiler.profile(graph, options=options).total_float_ops
  return forward / batch, total / batch


WORKERS = {'ours': worker_ours, 'eval': worker_eval, 'keras': worker_keras,
           'matmul': worker_matmul, 'flops': flops_per_image}


def _run_worker(worker, config):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  if 'onednn' in config:  # set before TensorFlow loads in the worker
    env['TF_ENABLE_ONEDNN_OPTS'] = '1' if config['onednn'] else '0'
  command = [sys.executable, os.path.abspath(__file__), '--worker=' + worker,
             '--config=' + json.dumps(config),
             '--windows=%d' % FLAGS.windows,
             '--window_steps=%d' % FLAGS.window_steps,
             '--untimed_steps=%d' % FLAGS.untimed_steps,
             '--budget_seconds=%g' % FLAGS.budget_seconds]
  result = subprocess.run(command, capture_output=True, text=True, env=env)
  if result.returncode:
    sys.exit('bench.py: error: worker %s %s failed: %s'
             % (worker, config, result.stderr.strip().splitlines()[-1:]))
  return json.loads(result.stdout.strip().splitlines()[-1])


def _fast_row(net):
  """The name of the row that `res_mnist.py --fast` would train as here."""
  towers, bfloat16, _ = models.fast_settings(Recipe(net=net))
  return 'ours %s, %s' % ('bf16' if bfloat16 else 'fp32',
                          'towers' if towers > 1 else '1 tower')


def _report(rates, forward_flops, train_flops, minutes):
  """The markdown of the results: one table, and ratios where they apply."""
  median = {name: statistics.median(values) for name, values in rates.items()}
  flags = runtime.cpu_flags()
  kind = runtime.cpu_kind()
  fast = _fast_row(FLAGS.net)
  lines = [
      '# Benchmark results: %s CPU' % kind,
      '',
      'Machine: %s, %d cores; CPU flags %s; without %s. Kind: %s '
      '(ONEDNN_MAX_CPU_ISA=%s). oneDNN: on for ours; %s for Keras as '
      'TensorFlow chooses it. "towers" is `--towers=%d`; `--fast` here '
      'trains as "%s". Command: `%spython bench/bench.py --net=%s '
      '--rounds=%d --windows=%d --window_steps=%d --budget_seconds=%g`. '
      'Medians of up to %d windows per row (fewer where a process\'s %g s '
      'ran out), images/s (matmul: GFLOP/s). The bench took %.1f min.'
      % (runtime.cpu_model(), num_cores(),
         ', '.join(f for f in REPORTED_FLAGS if f in flags) or 'unknown',
         ', '.join(f for f in REPORTED_FLAGS if f not in flags) or 'none',
         kind, os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset'),
         'on' if _keras_onednn_default() else 'off (Eigen\'s kernels)',
         num_cores(), fast,
         ('ONEDNN_MAX_CPU_ISA=%s ' % os.environ['ONEDNN_MAX_CPU_ISA']
          if 'ONEDNN_MAX_CPU_ISA' in os.environ else ''),
         FLAGS.net, FLAGS.rounds, FLAGS.windows, FLAGS.window_steps,
         FLAGS.budget_seconds, FLAGS.rounds * FLAGS.windows,
         FLAGS.budget_seconds, minutes),
      '',
      '| configuration | median | min | max | windows |',
      '| --- | ---: | ---: | ---: | ---: |',
  ]
  lines += ['| %s | %.0f | %.0f | %.0f | %d |'
            % (name, median[name], min(values), max(values), len(values))
            for name, values in rates.items()]
  if kind not in runtime.BF16_KINDS:
    lines += ['', 'bfloat16 rows skipped: this CPU (as capped) has no '
              'bfloat16 in hardware, and emulated bfloat16 is slower than '
              'fp32 (`--fast` does not use it here).']
  pairs = [(fast, 'ours fp32, 1 tower'), (fast, 'Keras fp32'),
           (fast, 'Keras fp32, oneDNN on'), (fast, 'Keras bf16'),
           ('ours fp32, 1 tower', 'Keras fp32'),
           ('ours fp32, 1 tower', 'Keras fp32, oneDNN on'),
           ('ours bf16, 1 tower', 'Keras bf16')]
  ratios = ['| %s%s / %s | %.2f |' % (a, ' (--fast)' if a == fast else '', b,
                                     median[a] / median[b])
            for a, b in pairs if a in median and b in median and a != b]
  if ratios:
    lines += ['', '| ratio | value |', '| --- | ---: |'] + ratios
  bounds = []
  for precision in ('fp32', 'bf16'):
    if 'matmul ' + precision in median:
      peak = median['matmul ' + precision] * 1e9 / train_flops
      fastest = max(value for name, value in median.items()
                    if name.startswith('ours %s,' % precision))
      bounds.append('%.0f images/s in %s (the fastest %s row reaches %.0f%%)'
                    % (peak, precision, precision, 100 * fastest / peak))
  lines += [
      '',
      'FLOPs per image (TF profiler): forward %.1f M, training step %.1f M. '
      'At the measured matmul rates that bounds training at %s.'
      % (forward_flops / 1e6, train_flops / 1e6, '; '.join(bounds)),
  ]
  return '\n'.join(lines) + '\n'


def main(_):
  if FLAGS.worker:
    config = json.loads(FLAGS.config)
    print(json.dumps(WORKERS[FLAGS.worker](config)))
    return

  started = time.time()
  configs = _configs(FLAGS.net)
  rates = {name: [] for name, _, _ in configs}
  for round_index in range(FLAGS.rounds):
    for name, worker, config in configs:
      rates[name] += _run_worker(worker, config)
      print('round %d/%d  %-28s median so far %8.0f'
            % (round_index + 1, FLAGS.rounds, name,
               statistics.median(rates[name])), flush=True)
  forward_flops, train_flops = _run_worker('flops', {'net': FLAGS.net})
  text = _report(rates, forward_flops, train_flops,
                 (time.time() - started) / 60)
  output = FLAGS.output or os.path.join(
      HERE, 'results-%s.md' % runtime.cpu_kind())
  with open(output, 'w') as f:
    f.write(text)
  print()
  print(text)


if __name__ == '__main__':
  app.run(main)
