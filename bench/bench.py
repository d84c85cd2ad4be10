"""Training and evaluation speed of this package against the same network in Keras 3.

    python bench/bench.py                  # about 10 minutes; writes bench/results.md

Each measurement runs in a fresh process (TF1 graph mode and Keras' eager
mode cannot share one) that warms up, then times several windows of steps;
the processes are run round-robin for --rounds rounds, so that a slow
moment of a shared machine hits every configuration alike, and each figure
is the median over all its windows. Throughput is images per second between
consecutive step ends, input feeding included.

Measured, every training row at batch 100 (the default, and the fast
settings' batch too):
  ours     res_mnist.py's own training step (its graph, session config and
           next_batch feeding), fp32 and --bfloat16, as one graph (the
           default) and with --towers=<cores> (the fast settings);
  keras    the same network in Keras 3 (keras.layers, model.fit, Adam on
           ExponentialDecay(0.003, 200, 0.97)), fp32 and with the
           mixed_bfloat16 policy;
  eval     the inference graph (dropout off) as the scripts evaluate:
           batches of 2000 in towers of 250;
  matmul   the machine's float32 and bfloat16 matrix-multiply rate;
  flops    the network's floating-point operations per image, from the TF
           profiler, forward and for a whole training step.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from res_mnist_inference import num_cores  # noqa: E402

flags.DEFINE_integer('rounds', 3, 'Round-robin passes over the configurations.')
flags.DEFINE_integer('windows', 8, 'Timed windows per process.')
flags.DEFINE_integer('window_steps', 10, 'Steps per timed window.')
flags.DEFINE_integer('bench_warmup_steps', 25, 'Untimed steps first.')
flags.DEFINE_string('output', os.path.join(HERE, 'results.md'),
                    'Markdown table to write.')
flags.DEFINE_string('worker', None, 'Internal: run one measurement.')
flags.DEFINE_string('config', '{}', 'Internal: the worker\'s settings, JSON.')

FLAGS = flags.FLAGS

# (name, worker, settings); ours_* take res_mnist.py flags.
TOWERS = '--towers=%d' % num_cores()
CONFIGS = [
    ('ours fp32, 1 tower', 'ours', {'flags': []}),
    ('ours fp32, towers', 'ours', {'flags': [TOWERS]}),
    ('ours bf16, 1 tower', 'ours', {'flags': ['--bfloat16']}),
    ('ours bf16, towers', 'ours', {'flags': [TOWERS, '--bfloat16']}),
    ('Keras fp32', 'keras', {'batch_size': 100, 'policy': 'float32'}),
    ('Keras bf16', 'keras', {'batch_size': 100, 'policy': 'mixed_bfloat16'}),
    ('ours eval fp32', 'eval', {'bfloat16': False}),
    ('ours eval bf16', 'eval', {'bfloat16': True}),
    ('matmul fp32', 'matmul', {'dtype': 'float32'}),
    ('matmul bf16', 'matmul', {'dtype': 'bfloat16'}),
]


def _windows(step, batch_size):
  """Runs `step` warm-up + timed windows; returns images/s per window."""
  for _ in range(FLAGS.bench_warmup_steps):
    step()
  rates = []
  for _ in range(FLAGS.windows):
    start = time.perf_counter()
    for _ in range(FLAGS.window_steps):
      step()
    rates.append(batch_size * FLAGS.window_steps / (time.perf_counter() - start))
  return rates


def _mnist_or_random():
  import input_data
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
  from slim_compat import slim  # noqa: F401
  import tensorflow.compat.v1 as tf
  tf.disable_v2_behavior()
  import res_mnist
  from res_mnist_inference import session_config
  res_mnist.FLAGS(['res_mnist.py', '--seed=0'] + config['flags'])
  mnist = _mnist_or_random()
  batch_size = res_mnist.FLAGS.batch_size
  graph = res_mnist.build_training_graph(max_steps=10 ** 6)
  settings = res_mnist.FLAGS
  sess = tf.Session(config=session_config(settings.towers, settings.bfloat16,
                                          settings.threads))
  sess.run(tf.global_variables_initializer())
  fetches = [graph.train_op, graph.loss]

  def step():
    xs, ys = mnist.train.next_batch(batch_size)
    sess.run(fetches, feed_dict={graph.x: xs, graph.y_: ys})
  return _windows(step, batch_size)


def worker_eval(config):
  from slim_compat import slim  # noqa: F401
  import tensorflow.compat.v1 as tf
  tf.disable_v2_behavior()
  from res_mnist_inference import (EVAL_BATCH_SIZE, eval_towers,
                                    inference_in_towers, session_config)
  test = _mnist_or_random().test
  x = tf.placeholder(tf.float32, [None, 784])
  # As res_mnist.py and res_mnist_eval.py evaluate.
  classes = tf.argmax(inference_in_towers(x, eval_towers()), 1)
  sess = tf.Session(config=session_config(eval_towers(), config['bfloat16']))
  sess.run(tf.global_variables_initializer())
  batch_size, position = EVAL_BATCH_SIZE, [0]

  def step():
    start = position[0] % (test.num_examples - batch_size + 1)
    sess.run(classes, {x: test.images[start:start + batch_size]})
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
  steps = FLAGS.bench_warmup_steps + FLAGS.windows * FLAGS.window_steps
  model.fit(mnist.train.images[:steps * batch_size],
            mnist.train.labels[:steps * batch_size], batch_size=batch_size,
            epochs=1, verbose=0, shuffle=True, callbacks=[callback])
  ends = np.array(step_ends[FLAGS.bench_warmup_steps - 1:])
  return [batch_size * FLAGS.window_steps / (ends[i + FLAGS.window_steps] - ends[i])
          for i in range(0, FLAGS.windows * FLAGS.window_steps, FLAGS.window_steps)]


def worker_matmul(config):
  """GFLOP/s of a 2048x2048 matrix multiply, reported per window."""
  from slim_compat import slim  # noqa: F401
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


def flops_per_image():
  """(forward, training step) FLOPs per image, from the TF profiler."""
  from slim_compat import slim  # noqa: F401
  import tensorflow.compat.v1 as tf
  tf.disable_v2_behavior()
  import res_mnist
  from res_mnist_inference import inference
  options = tf.profiler.ProfileOptionBuilder.float_operation()
  options['output'] = 'none'
  batch = 100
  with tf.Graph().as_default() as graph:
    inference(tf.zeros([batch, 784]))
    forward = tf.profiler.profile(graph, options=options).total_float_ops
  res_mnist.FLAGS(['res_mnist.py', '--batch_size=%d' % batch])
  with tf.Graph().as_default() as graph:
    train = res_mnist.build_training_graph(max_steps=500)
    # Static shapes let the profiler count every op.
    graph_def = graph.as_graph_def()
  with tf.Graph().as_default() as graph:
    x = tf.zeros([batch, 784])
    y_ = tf.one_hot(tf.zeros([batch], tf.int32), 10)
    tf.import_graph_def(graph_def, input_map={train.x.name: x, train.y_.name: y_},
                        name='')
    total = tf.profiler.profile(graph, options=options).total_float_ops
  return forward / batch, total / batch


def _median(values):
  values = sorted(values)
  middle = len(values) // 2
  return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _run_worker(worker, config):
  command = [sys.executable, os.path.abspath(__file__), '--worker=' + worker,
             '--config=' + json.dumps(config),
             '--windows=%d' % FLAGS.windows,
             '--window_steps=%d' % FLAGS.window_steps,
             '--bench_warmup_steps=%d' % FLAGS.bench_warmup_steps]
  result = subprocess.run(command, capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  if result.returncode:
    sys.exit('bench.py: error: worker %s %s failed: %s'
             % (worker, config, result.stderr.strip().splitlines()[-1:]))
  return json.loads(result.stdout.strip().splitlines()[-1])


def _cpu_name():
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return 'unknown CPU'


def main(_):
  if FLAGS.worker:
    config = json.loads(FLAGS.config)
    if FLAGS.worker == 'flops':
      print(json.dumps(flops_per_image()))
    else:
      print(json.dumps(globals()['worker_' + FLAGS.worker](config)))
    return

  rates = {name: [] for name, _, _ in CONFIGS}
  for round_index in range(FLAGS.rounds):
    for name, worker, config in CONFIGS:
      rates[name] += _run_worker(worker, config)
      print('round %d/%d  %-28s median so far %8.0f'
            % (round_index + 1, FLAGS.rounds, name, _median(rates[name])),
            flush=True)
  forward_flops, train_flops = _run_worker('flops', {})
  median = {name: _median(values) for name, values in rates.items()}

  def ratio(a, b):
    return median[a] / median[b]

  lines = [
      '# Benchmark results',
      '',
      'Machine: %s, %d cores; "towers" is `--towers=%d`. Command: '
      '`python bench/bench.py --rounds=%d --windows=%d --window_steps=%d`. '
      'Medians of %d windows per row, '
      'images/s (matmul: GFLOP/s).' % (_cpu_name(), num_cores(),
                                       num_cores(), FLAGS.rounds,
                                       FLAGS.windows, FLAGS.window_steps,
                                       FLAGS.rounds * FLAGS.windows),
      '',
      '| configuration | median | min | max |',
      '| --- | ---: | ---: | ---: |',
  ]
  for name, _, _ in CONFIGS:
    lines.append('| %s | %.0f | %.0f | %.0f |' % (name, median[name],
                                                   min(rates[name]), max(rates[name])))
  fp32_peak = median['matmul fp32'] * 1e9 / train_flops
  bf16_peak = median['matmul bf16'] * 1e9 / train_flops
  lines += [
      '',
      '| ratio | value |',
      '| --- | ---: |',
      '| ours bf16, towers / Keras fp32 | %.2f |' % ratio('ours bf16, towers', 'Keras fp32'),
      '| ours bf16, towers / Keras bf16 | %.2f |' % ratio('ours bf16, towers', 'Keras bf16'),
      '| ours fp32, towers / Keras fp32 | %.2f |' % ratio('ours fp32, towers', 'Keras fp32'),
      '| ours bf16, 1 tower / Keras bf16 | %.2f |' % ratio('ours bf16, 1 tower', 'Keras bf16'),
      '| ours fp32, 1 tower / Keras fp32 | %.2f |' % ratio('ours fp32, 1 tower', 'Keras fp32'),
      '',
      'FLOPs per image (TF profiler): forward %.1f M, training step %.1f M. '
      'At the measured matmul rates that bounds training at %.0f images/s '
      'in fp32 and %.0f in bf16; ours with towers reaches %.0f%% (fp32) '
      'and %.0f%% (bf16) of those bounds.'
      % (forward_flops / 1e6, train_flops / 1e6, fp32_peak, bf16_peak,
         100 * median['ours fp32, towers'] / fp32_peak,
         100 * median['ours bf16, towers'] / bf16_peak),
  ]
  text = '\n'.join(lines) + '\n'
  with open(FLAGS.output, 'w') as f:
    f.write(text)
  print()
  print(text)


if __name__ == '__main__':
  app.run(main)
