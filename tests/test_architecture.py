"""The package's shape: imports point one way, short library functions,
importing is harmless, and the docs' size and words."""
import ast
import glob
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPTS = {os.path.splitext(os.path.basename(p))[0]
           for p in glob.glob(os.path.join(ROOT, 'res_mnist*.py'))} - {
               'res_mnist_inference'}
NETWORKS = {'nets', 'resnet', 'res_mnist_inference'}


def _tree(path):
  with open(path) as f:
    return ast.parse(f.read(), path)


def _imports(path):
  """The top-level names of the modules `path` imports, anywhere in it."""
  names = set()
  for node in ast.walk(_tree(path)):
    if isinstance(node, ast.Import):
      names.update(alias.name.split('.')[0] for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      names.add(node.module.split('.')[0])
  return names


def _files(*patterns):
  return sorted(p for pattern in patterns
                for p in glob.glob(os.path.join(ROOT, pattern)))


def test_the_library_imports_no_network_and_no_script():
  for path in _files('resmnist/*.py'):
    imported = _imports(path)
    assert not imported & NETWORKS, (path, imported & NETWORKS)
    assert not imported & SCRIPTS, (path, imported & SCRIPTS)


def test_the_networks_import_only_the_library_and_libraries():
  for path in _files('nets/*.py', 'resnet.py', 'res_mnist_inference.py'):
    assert not _imports(path) & SCRIPTS, path


def test_no_bench_tool_imports_a_script_but_the_loop_it_times():
  for path in _files('bench/*.py'):
    assert not _imports(path) & (SCRIPTS - {'res_mnist'}), path


def test_no_library_function_is_over_60_lines():
  for path in _files('resmnist/*.py'):
    for node in ast.walk(_tree(path)):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        lines = node.end_lineno - node.lineno + 1
        assert lines <= 60, '%s: %s is %d lines' % (path, node.name, lines)


def test_the_training_loop_is_built_once_in_res_mnist():
  """The bench and the tests time and call res_mnist.train: no other file
  builds a training session."""
  for path in _files('*.py', 'resmnist/*.py', 'nets/*.py', 'bench/*.py'):
    for node in ast.walk(_tree(path)):
      if isinstance(node, ast.Attribute) and node.attr in (
          'MonitoredSession', 'MonitoredTrainingSession'):
        assert path.endswith('/res_mnist.py'), path


def _function(path, name):
  return next(node for node in ast.walk(_tree(path))
              if isinstance(node, ast.FunctionDef) and node.name == name)


def test_train_reads_as_the_original_in_its_order():
  """The original's train(): placeholders, inference, the loss, the decayed
  rate, Adam's minimize, a Saver, and the loop over next_batch that prints
  the step and loss; within about 80 lines."""
  path = os.path.join(ROOT, 'res_mnist.py')
  train = _function(path, 'train')
  assert train.end_lineno - train.lineno + 1 <= 85
  with open(path) as f:
    source = ''.join(f.readlines()[train.lineno - 1:train.end_lineno])
  position = 0
  for line in ("x = tf.placeholder(", "y_ = tf.placeholder(",
               "y = inference(", "global_step = tf.train",
               "res_mnist_inference.loss(", "configure_learning_rate(",
               "tf.train.AdamOptimizer(learning_rate)",
               "res_mnist_inference.training(", "tf.train.Saver(",
               "tf.train.MonitoredSession(", "next_batch(recipe.batch_size)",
               "sess.run([train_op, cross_entropy]", "print('training step"):
    found = source.find(line, position)
    assert found > position, 'no %r after the previous line' % line
    position = found


def test_functions_of_more_than_four_parameters_take_them_by_keyword():
  """At most three positional parameters where there are more than four."""
  for path in _files('*.py', 'resmnist/*.py', 'nets/*.py', 'bench/*.py'):
    for node in ast.walk(_tree(path)):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        positional = [a.arg for a in node.args.posonlyargs + node.args.args
                      if a.arg not in ('self', 'cls')]
        if len(positional) + len(node.args.kwonlyargs) > 4:
          assert len(positional) <= 3, '%s: %s(%s)' % (
              path, node.name, ', '.join(positional))


@pytest.mark.slow
def test_importing_changes_nothing_in_the_process():
  program = '''
import logging, os, sys
sys.path.insert(0, %r)
import tensorflow as tf
level, environ = tf.get_logger().level, dict(os.environ)
import res_mnist_inference
from nets import nets_factory
from resmnist import cli, loader, photo, trainer
assert dict(os.environ) == environ, set(os.environ.items()) ^ set(environ.items())
assert tf.get_logger().level == level, (tf.get_logger().level, level)
print('unchanged')
''' % ROOT
  env = {k: v for k, v in os.environ.items()
         if not k.startswith(('TF_CPP_MIN_LOG_LEVEL', 'TF_ENABLE_ONEDNN'))}
  result = subprocess.run([sys.executable, '-c', program], env=env,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip() == 'unchanged'


def _project_text_files():
  listed = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True,
                          text=True)
  if listed.returncode:
    pytest.skip('not a git checkout')
  return [os.path.join(ROOT, p) for p in listed.stdout.split()
          if p.endswith(('.py', '.md', '.txt', '.ini', '.run')) or
          p == '.ci/run']


# Built from pieces so that this file does not match itself.
HISTORY = re.compile('|'.join([
    r'\bsessions? [0-9]', r'\bthe ' + 'issue\b', r'\bissue' + "'s",
    r'scratch ' + 'edit', r'\b[Rr]uns? [A-E]\b', r'until ' + 'commit',
    r'\b(ZOO|SPEC|STYLE|REVIEW)' + r'\.md']))


def test_the_project_speaks_of_itself_only():
  for path in _project_text_files():
    with open(path, errors='replace') as f:
      for number, line in enumerate(f, 1):
        assert not HISTORY.search(line), '%s:%d: %s' % (path, number, line)


def test_the_docs_are_short():
  """README and docs/ hold at most 11,000 words (as `wc -w` counts them), and
  every prose line (not in a ``` block, not a table row) at most 100
  characters."""
  words, long_lines = 0, []
  for path in _files('README.md', 'docs/*.md'):
    with open(path) as f:
      text = f.read()
    words += len(text.split())
    in_code = False
    for number, line in enumerate(text.splitlines(), 1):
      if line.lstrip().startswith('```'):
        in_code = not in_code
      elif not in_code and not line.startswith('|') and len(line) > 100:
        long_lines.append('%s:%d' % (os.path.relpath(path, ROOT), number))
  assert words <= 11000, 'README.md and docs/*.md hold %d words' % words
  assert not long_lines, 'prose lines over 100 characters: %s' % long_lines


def test_graph_modules_read_no_flags():
  """Flags are read in the scripts' main only; the library takes values."""
  for path in glob.glob(os.path.join(ROOT, 'resmnist', '*.py')) + [
      os.path.join(ROOT, 'res_mnist_inference.py'),
      os.path.join(ROOT, 'resnet.py')]:
    if path.endswith('cli.py'):
      continue  # it parses them, for every script
    with open(path) as f:
      # Whether a flag is declared (`'net' in flags.FLAGS`) is no value.
      assert not re.search(r'FLAGS(\.\w|\[)', f.read()), path
