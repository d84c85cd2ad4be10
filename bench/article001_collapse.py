r"""Why article 001's bottleneck ResNet collapses: measured, step by step.

    python bench/article001_collapse.py --seeds=1,2,3,4 \
        --runs='runs/a001_{variant}_s{seed}' --model_dirs='runs/a001_*_s?'

With `--preset=article001 --stray_bias` res_mnist.py ends at 11.35% test
accuracy: the network answers "1" for every digit (docs/zoo.md). For each
seed and variant (fixed: the article's fix; stray: --stray_bias; canonical:
--canonical_bottleneck; canonical_he: --canonical_bottleneck --he_init) this
script runs res_mnist.py's own training (`res_mnist.train`, on the preset's
Recipe and the data read with the same seed, hence the same graph, weights,
dropout masks and batches; in a temporary model directory, without
validation) for --steps steps, and a hook of the loop measures, at init and
at probe steps, on a fixed batch of --probe_size validation images, dropout
off:

  loss              the loss of training step `step` (as res_mnist.py logs
                    it: its batch, dropout on); probe loss: the probe's
  flat mean, rms    the 12,544 features fed to fc1 (>= 0 after the last ReLU)
  common            the share of their energy common to all probe images,
                    |mean_i x_i|^2 / mean_i |x_i|^2 (1: all images alike)
  fc1 pre rms       fc1's pre-activation
  fc1 dead          fc1 units that are 0 for every probe image
  dead ch a/b/c     output channels of res2a, res2b, res2c that are 0 at
                    every position of every probe image
  logit std         std of the 10 logits of an image, mean over images
  max p             largest softmax probability, mean over images
  classes           distinct classes predicted on the probe batch
  stray bias        with --stray_bias, the mean of its 3 x 256 values

With --runs (a model dir pattern of res_mnist.py's runs, with {variant} and
{seed}) it checks that the weights at init are the run's `my_model-0` and
that the losses match the run's log lines, and reports the run's test
accuracy (its fate after 3,001 steps). --model_dirs measures finished
checkpoints too.

The tensors are found by name in the graph that `nets/bottleneck_resnet.py`
builds; the network code is not changed. The preset is the library's
(`resmnist.recipe.PRESETS`). Of res_mnist.py's flags, the data's are used
(--data_dir, --check_sha256, --validation_size); the recipe is the preset's,
so its other flags are refused.
"""
import contextlib
import dataclasses
import glob
import io
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from resmnist import cli  # noqa: E402
cli.start()  # before TensorFlow loads, as the scripts do

from absl import flags  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

from nets import models  # noqa: E402
# The training loop followed, and its flags: --data_dir, --check_sha256 and
# --validation_size (training images held out) are this script's too.
import res_mnist  # noqa: E402
from resmnist import common_flags  # noqa: E402
from resmnist import recipe as recipes  # noqa: E402
from resmnist.recipe import FIELDS, LoopSettings, Recipe  # noqa: E402

flags.DEFINE_list('seeds', ['1', '2'], 'Seeds (--seed of res_mnist.py).')
flags.DEFINE_list('variants', ['fixed', 'stray', 'canonical'],
                  'fixed: the article\'s fix; stray: --stray_bias; '
                  'canonical: --canonical_bottleneck; canonical_he: '
                  '--canonical_bottleneck --he_init.')
flags.DEFINE_integer('steps', 250, 'Training steps to follow.', lower_bound=0)
flags.DEFINE_integer('probe_every', 50, 'Steps between probes after step 50 '
                     '(every step up to 10, every 5 up to 50).', lower_bound=1)
flags.DEFINE_integer('probe_size', 500, 'Validation images in the probe '
                     'batch (the first ones).', lower_bound=1)
flags.DEFINE_string('runs', None, 'Model dirs of res_mnist.py\'s real runs, '
                    'e.g. runs/a001_{variant}_s{seed}; their logs are '
                    '<dir>.log.')
flags.DEFINE_list('model_dirs', [], 'Trained model dirs (globs) to measure; '
                  'the test accuracy is read from <dir>.log, and a dir whose '
                  'log has none (not finished) is skipped.')
flags.DEFINE_bool('trace', True, 'Print every probe as it is taken.')

FLAGS = flags.FLAGS

PRESET = 'article001'
VARIANTS = {'fixed': {}, 'stray': {'stray_bias': True},
            'canonical': {'canonical_bottleneck': True},
            'canonical_he': {'canonical_bottleneck': True, 'he_init': True}}
SCOPE = 'BottleneckResNet/'
UNITS = ('res2a', 'res2b', 'res2c')
INIT_KEYS = ('flat_mean', 'common', 'pre_rms', 'fc1_dead', 'logit_std')

flags.register_validator('variants', lambda names: set(names) <= set(VARIANTS),
                         message='known variants: %s' % ', '.join(VARIANTS))


def recipe_of(variant, seed):
  """The Recipe res_mnist.py makes from --preset=article001 and the flags."""
  preset = recipes.PRESETS[PRESET]
  values = {name: value for name, value in preset.items() if name in FIELDS}
  return Recipe(seed=seed, **dict(values, **VARIANTS[variant]))


def probe_fetches(graph):
  """The measured tensors of a bottleneck_resnet in `graph`, by name.

  The logits are fc2 of fc1's output, without the training graph's dropout
  (which is not run, so its random stream stays the real run's).
  """
  get = graph.get_tensor_by_name
  fc2 = {v.op.name: v for v in graph.get_collection('variables')
         if v.op.name.startswith(SCOPE + 'fc2/')}
  stray = [v for v in graph.get_collection('variables')
           if v.op.name.endswith('/stray_bias')]
  with graph.as_default(), tf.name_scope('probe'):
    flat = get(SCOPE + 'flatten/flatten/Reshape:0')
    pre = get(SCOPE + 'fc1/BiasAdd:0')
    fc1 = get(SCOPE + 'fc1/Relu:0')
    return {
        'flat_mean': tf.reduce_mean(flat),
        'flat_rms': tf.sqrt(tf.reduce_mean(tf.square(flat))),
        # 1: every image gives the same features (then an fc1 unit is on
        # for all of them or for none).
        'common': tf.reduce_sum(tf.square(tf.reduce_mean(flat, 0)))
                  / tf.reduce_mean(tf.reduce_sum(tf.square(flat), 1)),
        'pre_rms': tf.sqrt(tf.reduce_mean(tf.square(pre))),
        'fc1_max': tf.reduce_max(fc1, 0),
        'unit_max': [tf.reduce_max(get(SCOPE + unit + '/Relu:0'), [0, 1, 2])
                     for unit in UNITS],
        'logits': tf.matmul(fc1, fc2[SCOPE + 'fc2/weights'])
                  + fc2[SCOPE + 'fc2/biases'],
        'stray_bias': tf.reduce_mean(tf.stack(stray)) if stray
                      else tf.constant(np.nan),
    }


def measure(session, fetches, feed, labels):
  """One probe: a dict of the figures in the module docstring."""
  got = session.run(fetches, feed)
  logits = got['logits'].astype(np.float64)
  shifted = logits - logits.max(1, keepdims=True)
  log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
  predicted = logits.argmax(1)
  return {
      'probe_loss': -log_p[np.arange(len(labels)), labels].mean(),
      'accuracy': (predicted == labels).mean(),
      'flat_mean': got['flat_mean'], 'flat_rms': got['flat_rms'],
      'common': got['common'], 'stray_bias': got['stray_bias'],
      'pre_rms': got['pre_rms'],
      'fc1_dead': (got['fc1_max'] <= 0).mean(),
      'fc1_alive': int((got['fc1_max'] > 0).sum()),
      'unit_dead': [(m <= 0).mean() for m in got['unit_max']],
      'logit_std': logits.std(1).mean(),
      'max_p': np.exp(log_p.max(1)).mean(),
      'classes': len(np.unique(predicted)),
      'top_class': np.bincount(predicted).argmax(),
  }


HEADER = ('  step  loss    probe loss  flat mean  rms   common  fc1 pre rms  '
          'fc1 dead  dead ch a/b/c   logit std  max p  classes')


def row(step, batch_loss, m):
  """A line of HEADER's table; "(all k)" when one class k is predicted."""
  loss = '%-7.4g' % batch_loss if batch_loss is not None else '-      '
  return ('  %4s  %s %9.4g  %8.3f  %5.2f  %6.3f  %10.2f  %7.1f%%  '
          '%3.0f/%3.0f/%3.0f%%  %9.2f  %5.3f  %4.3g%s' % (
              step, loss, m['probe_loss'], m['flat_mean'], m['flat_rms'],
              m['common'], m['pre_rms'], 100 * m['fc1_dead'],
              *[100 * d for d in m['unit_dead']], m['logit_std'], m['max_p'],
              m['classes'], ' (all "%d")' % m['top_class']
              if m.get('top_class') is not None and m['classes'] == 1 else '')
          + ('  stray bias %.3f' % m['stray_bias']
             if np.isfinite(m['stray_bias']) else ''))


def logged_losses(log):
  """{step: loss string} of a res_mnist.py log; a resumed run's first."""
  losses = {}
  for line in open(log):
    hit = re.match(r'training step (\d+), loss (\S+) ', line)
    if hit:
      losses.setdefault(int(hit.group(1)), hit.group(2))
  return losses


def test_accuracy(log):
  """The last 'test accuracy' of a log, or None (not finished, or absent)."""
  if not os.path.exists(log):
    return None
  found = [line.split()[2] for line in open(log)
           if line.startswith('test accuracy ')]
  return float(found[-1]) if found else None


def init_matches(session, model_dir):
  """Max |difference| between our initial weights and the run's my_model-0."""
  path = os.path.join(model_dir, 'my_model-0')
  if not os.path.exists(path + '.index'):
    return None
  reader = tf.train.load_checkpoint(path)
  return max(np.abs(session.run(v) - reader.get_tensor(v.op.name)).max()
             for v in session.graph.get_collection(
                 tf.GraphKeys.TRAINABLE_VARIABLES))


def probe_steps(steps):
  every = (set(range(0, 11)) | set(range(10, 51, 5)) | set(alive_steps())
           | set(range(50, steps + 1, FLAGS.probe_every)))
  return sorted(s for s in every if s <= steps)


class ProbeHook(tf.train.SessionRunHook):
  """Follows a run of `res_mnist.train` into `result`: at the session's
  start, the initial weights against the real run's (`run_dir`) and the
  step-0 probe; after each training step, its loss at the new global step
  and, at `probe_steps`, a probe of `probe_images`; stops the loop after
  `steps` steps. Prints each probe to `out` with `trace`.
  """

  def __init__(self, result, probe_images, probe_labels, *, steps,
               probe_steps, run_dir, trace, out):
    self._result = result
    self._probe_images, self._probe_labels = probe_images, probe_labels
    self._steps, self._probe_steps = steps, set(probe_steps)
    self._run_dir, self._trace, self._out = run_dir, trace, out

  def begin(self):
    # Built after the network, so that its random ops keep the run's seeds.
    graph = tf.get_default_graph()
    self._fetches = probe_fetches(graph)
    self._images = graph.get_tensor_by_name('x-input:0')
    self._loss = graph.get_tensor_by_name('cross_entropy:0')
    self._global_step = tf.train.get_global_step(graph)

  def after_create_session(self, session, coord):
    # Each run of the loop is one training step (`train_op` evaluates to the
    # new global step, which a fetch of the step beside it may not see).
    self._step = int(session.run(self._global_step))  # 0: a fresh run
    if self._run_dir:
      self._result['init_diff'] = init_matches(session, self._run_dir)
    self._probe(session)
    if self._step >= self._steps:
      coord.request_stop()

  def before_run(self, run_context):
    return tf.train.SessionRunArgs(self._loss)

  def after_run(self, run_context, run_values):
    self._step += 1
    # Logged as res_mnist.py logs it: at the new global step.
    self._result['losses'][self._step] = run_values.results
    self._probe(run_context.session)
    if self._step >= self._steps:
      run_context.request_stop()

  def _probe(self, session):
    if self._step not in self._probe_steps:
      return
    # With batch norm (canonical) the probe uses its batch statistics, as
    # training does; its moving averages (unused here) move too.
    m = self._result['probes'][self._step] = measure(
        session, self._fetches, {self._images: self._probe_images},
        self._probe_labels)
    if self._trace:
      print(row(self._step, self._result['losses'].get(self._step), m),
            file=self._out, flush=True)


def follow(variant, seed):
  """Trains one run --steps steps; returns its probes and checks."""
  recipe = recipe_of(variant, seed)
  # As res_mnist.main: the data read with the run's seed, then the graph.
  data = common_flags.read_data(FLAGS, recipe.dataset, FLAGS.validation_size,
                                recipe.seed)
  probe_images = data.validation.images[:FLAGS.probe_size]
  probe_labels = data.validation.labels[:FLAGS.probe_size].argmax(1)
  run_dir = FLAGS.runs.format(variant=variant, seed=seed) if FLAGS.runs else None
  result = {'variant': variant, 'seed': seed, 'probes': {},
            'losses': {}, 'init_diff': None, 'run_dir': run_dir}
  if FLAGS.trace:
    print('\n%s, seed %d:\n%s' % (variant, seed, HEADER), flush=True)
  hook = ProbeHook(result, probe_images, probe_labels, steps=FLAGS.steps,
                   probe_steps=probe_steps(FLAGS.steps), run_dir=run_dir,
                   trace=FLAGS.trace, out=sys.stdout)
  # The hook ends the loop, not --max_steps; the preset's rate is constant,
  # so a larger one changes nothing else.
  recipe = dataclasses.replace(recipe,
                               max_steps=max(recipe.max_steps, FLAGS.steps))
  with tempfile.TemporaryDirectory() as model_dir:
    settings = LoopSettings(model_dir=model_dir, log_every=10 ** 6,
                            save_every=10 ** 6, max_to_keep=1, fresh=True)
    # Its closing lines name the temporary model directory: not shown.
    with contextlib.redirect_stdout(io.StringIO()):
      res_mnist.train(data, recipe, settings, evaluate=False,
                      extra_hooks=[hook])
  return result


def measure_model_dir(model_dir, probe_images, probe_labels):
  """Probe figures of a trained model dir's latest checkpoint."""
  with models.load_model(model_dir, log=lambda *a: None) as model:
    fetches = probe_fetches(model.graph)
    return measure(model.session, fetches, {model.images: probe_images},
                   probe_labels)


def one_class_for_good(result):
  """The first probe step from which every probe predicts one class."""
  steps = sorted(result['probes'])
  tail = [s for s in steps if result['probes'][s]['classes'] > 1]
  after = [s for s in steps if not tail or s > tail[-1]]
  return after[0] if after else None


def first_step(result, test):
  return next((s for s, m in sorted(result['probes'].items()) if test(m)),
              None)


def fate(result):
  """(collapsed, why): the real run's test accuracy if its log has one
  (11.35% is 'always 1'; below 20% counts), else what --steps steps show."""
  log = result['run_dir'] + '.log' if result['run_dir'] else None
  accuracy = test_accuracy(log) if log else None
  if accuracy is not None:
    return accuracy < 0.2, 'run: %.2f%%' % (100 * accuracy)
  if result['probes'][FLAGS.steps]['fc1_alive'] == 0:
    return True, 'here: fc1 all dead'
  if one_class_for_good(result) is not None:
    return True, 'here: one class'
  return False, 'here'


def alive_steps():
  return [s for s in (0, 1, 10, 50, 100, 200, 300, FLAGS.steps)
          if s <= FLAGS.steps]


def summarise(variant, results):
  """The per-variant table: init (mean over seeds), then each seed's fate."""
  print('\n== %s (%s): seeds %s, %d steps, probe %d validation images' % (
      variant, {'fixed': 'the article\'s fix', 'stray': '--stray_bias',
                'canonical': '--canonical_bottleneck',
                'canonical_he': '--canonical_bottleneck --he_init'}[variant],
      ','.join(str(r['seed']) for r in results), FLAGS.steps,
      FLAGS.probe_size))
  inits = [r['probes'][0] for r in results]
  mean = {k: np.mean([m[k] for m in inits], 0) for k in inits[0]
          if k != 'top_class'}
  print('at init, mean over seeds:\n' + HEADER)
  print(row('init', None, mean))
  print('  one Adam step (1e-3 on each weight) moves an fc1 pre-activation by '
        'up to 1e-3 x sum(inputs) = %.1f' % (1e-3 * mean['flat_mean'] * 12544))
  steps = sorted(set(alive_steps()))
  print('seed | init flat mean, logit std | fc1 alive at step %s | one class: '
        'first, for good from | probe acc at end | fate | init = run\'s, '
        'losses = log\'s' % '/'.join(map(str, steps)))
  for r in results:
    probes = r['probes']
    one, good = first_step(r, lambda m: m['classes'] == 1), one_class_for_good(r)
    print('%4d | %.3f, %5.2f | %s | %s, %s | %.3f | %s | %s, %s' % (
        r['seed'], probes[0]['flat_mean'], probes[0]['logit_std'],
        ' '.join(str(probes[s]['fc1_alive']) for s in steps),
        one if one is not None else 'never', good if good is not None
        else 'not yet', probes[FLAGS.steps]['accuracy'],
        '%s (%s)' % ('collapsed' if fate(r)[0] else 'trains', fate(r)[1]),
        ('yes' if r['init_diff'] == 0 else 'NO (%g)' % r['init_diff'])
        if r['init_diff'] is not None else '-', _loss_check(r)))


def _loss_check(result):
  """'yes (steps ...)' if our losses print as the run's log lines do."""
  log = result['run_dir'] + '.log' if result['run_dir'] else None
  if not log or not os.path.exists(log):
    return '-'
  logged = logged_losses(log)
  steps = [s for s in sorted(logged) if s in result['losses']]
  if not steps:
    return '- (no log line by step %d)' % FLAGS.steps
  differ = ['%d: %g vs %s' % (s, result['losses'][s], logged[s])
            for s in steps if '%g' % result['losses'][s] != logged[s]]
  return ('NO (%s)' % '; '.join(differ) if differ else
          'yes (step %s)' % ','.join(map(str, steps)))


def conclude(results):
  """Does the init scale separate the fates; does fc1 die first?"""
  print('\n== summary: %d runs, %d steps' % (len(results), FLAGS.steps))
  groups = {}
  for r in results:
    groups.setdefault(fate(r)[0], []).append(r)
  for collapsed, group in sorted(groups.items()):
    end = [r['probes'][FLAGS.steps]['fc1_alive'] for r in group]
    print('%s: %s\n  at init: %s; fc1 alive at step %d: %d-%d' % (
        'collapsed' if collapsed else 'trains',
        ', '.join('%s s%d' % (r['variant'], r['seed']) for r in group),
        ', '.join('%s %.3g-%.3g' % (k, min(r['probes'][0][k] for r in group),
                                    max(r['probes'][0][k] for r in group))
                  for k in INIT_KEYS), FLAGS.steps, min(end), max(end)))
  # A larger scale at init (stray) makes collapse likely.
  for name, runs in (('all runs', results), ('the article\'s unit (fixed, '
                     'stray)', [r for r in results
                                if r['variant'] in ('fixed', 'stray')])):
    split = {}
    for r in runs:
      split.setdefault(fate(r)[0], []).append(r['probes'][0])
    if len(split) == 2:
      print('does the init value separate them (every collapsed run above '
            'every other), %s: %s' % (name, ', '.join(
                '%s %s' % (k, 'yes' if max(m[k] for m in split[False])
                           < min(m[k] for m in split[True]) else 'no')
                for k in INIT_KEYS)))
  never = '- (not by %d)' % FLAGS.steps
  for r in results:
    good = one_class_for_good(r)
    dead90 = first_step(r, lambda m: m['fc1_dead'] >= 0.9)
    dead = first_step(r, lambda m: m['fc1_alive'] == 0)
    print('%s s%d: fc1 >= 90%% dead from step %s, all dead from step %s; '
          'one class for good from step %s%s' % (
              r['variant'], r['seed'], never if dead90 is None else dead90,
              never if dead is None else dead, never if good is None else good,
              ', fc1 %.1f%% dead then' % (100 * r['probes'][good]['fc1_dead'])
              if good is not None else ''))


def check_flags():
  """SettingError for a flag of res_mnist.py's recipe or loop given on the
  command line: each run's recipe is the preset's, its variant's and its
  seed's (--variants, --seeds), in a model directory of its own."""
  used = ('validation_size',)  # the data's, with --data_dir, --check_sha256
  given = [name for name in FIELDS + tuple(
      field.name for field in dataclasses.fields(LoopSettings)) + ('preset',)
           if name not in used and FLAGS[name].present]
  if given:
    raise recipes.SettingError(
        '--%s: not used here; each run is --preset=%s with its variant and '
        'seed (--variants, --seeds)' % (', --'.join(given), PRESET))


def main(_):
  check_flags()
  results = [follow(variant, int(seed)) for variant in FLAGS.variants
             for seed in FLAGS.seeds]
  if results:  # none with --seeds= (only --model_dirs to measure)
    for variant in FLAGS.variants:
      summarise(variant, [r for r in results if r['variant'] == variant])
    conclude(results)
  model_dirs = sorted(d for pattern in FLAGS.model_dirs
                      for d in glob.glob(pattern) if os.path.isdir(d))
  if model_dirs:
    data = common_flags.read_data(FLAGS, 'mnist', FLAGS.validation_size)
    images = data.validation.images[:FLAGS.probe_size]
    labels = data.validation.labels[:FLAGS.probe_size].argmax(1)
    print('\n== trained models (latest checkpoint, probe batch)\n'
          'model dir  test acc (log)\n' + HEADER)
    for model_dir in model_dirs:
      acc = test_accuracy(model_dir + '.log')
      if acc is None:  # still training, perhaps writing a checkpoint now
        print('%s  skipped: its log has no test accuracy yet' % model_dir)
        continue
      print('%s  %.4f' % (model_dir, acc))
      print(row('ckpt', None, measure_model_dir(model_dir, images, labels)))


if __name__ == '__main__':
  cli.run(main)
