"""Every code example of the README and docs/: the Python ones run as
written, and every documented command's flags parse in its script."""
import glob
import json
import os
import re
import shlex

import pytest

from conftest import (HAVE_MNIST, MNIST_DIR, NO_MNIST, ROOT, run_script,
                      write_dataset)

PAGES = ['README.md'] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'docs',
                                                             '*.md')))


def _blocks(languages):
  """(page, text) of each fenced block in one of `languages`."""
  for page in PAGES:
    with open(os.path.join(ROOT, page)) as f:
      text = f.read()
    for match in re.finditer(r'^```(\w*)\n(.*?)^```', text, re.M | re.S):
      if match.group(1) in languages:
        yield page, match.group(2)


PYTHON_BLOCKS = list(_blocks(('python',)))


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  """A directory as the docs assume it after a run: model/ (at step 500,
  as the default run's), export/500, and MNIST_data/ when it is here."""
  directory = tmp_path_factory.mktemp('docs')
  data = write_dataset(str(directory / 'synthetic'))
  trained = run_script('res_mnist.py', '--net=lenet5', '--max_steps=500',
                       '--batch_size=20', '--data_dir=' + data,
                       '--nocheck_sha256', '--validation_size=100',
                       '--save_every=500', '--log_every=500', '--seed=1',
                       cwd=str(directory))
  assert trained.returncode == 0, trained.stderr
  exported = run_script('res_mnist_export.py', cwd=str(directory))
  assert exported.returncode == 0, exported.stderr
  if HAVE_MNIST:
    os.symlink(MNIST_DIR, str(directory / 'MNIST_data'))
  return str(directory)


@pytest.mark.slow
@pytest.mark.parametrize('page,code', PYTHON_BLOCKS,
                         ids=['%s-%d' % (page, i) for i, (page, _) in
                              enumerate(PYTHON_BLOCKS)])
def test_python_examples_run_as_written(workdir, page, code):
  if 'MNIST_data' in code and not HAVE_MNIST:
    pytest.skip(NO_MNIST)
  example = os.path.join(workdir, 'example.py')
  with open(example, 'w') as f:
    f.write(code)
  result = run_script(example, cwd=workdir, timeout=300)
  assert result.returncode == 0, (page, code, result.stderr[-3000:])


def _commands():
  """{script: [argv, ...]} of every `python SCRIPT ...` line of the docs'
  shell blocks, with their placeholders filled in."""
  commands = {}
  for page, text in _blocks(('sh', 'bash')):
    for line in text.replace('\\\n', ' ').splitlines():
      match = re.search(r'\bpython (\S+\.py)(.*)', line.split('  #')[0])
      if not match:
        continue
      # `[--flag]` is optional; S, $s and FILE stand for a seed or a name.
      args = re.sub(r'\[(--\S+?)\]', r'\1', match.group(2))
      args = re.sub(r'=(S|\$s)\b', '=1', args).replace('FILE', 'out.md')
      commands.setdefault(match.group(1), []).append(shlex.split(args))
  return commands


COMMANDS = _commands()
# The launcher passes every flag that is not its own on to res_mnist.py.
LAUNCHER_FLAGS = ('--workers', '--ps', '--stop_timeout_secs')

CHECK = '''
import json, runpy, sys
sys.path.insert(0, %(root)r)
sys.argv = [%(script)r]
from absl import flags
runpy.run_path(%(script)r, run_name='docs_check')
bad = []
for argv in json.loads(%(commands)r):
  flags.FLAGS.unparse_flags()
  try:
    flags.FLAGS([%(script)r] + argv)
  except flags.Error as e:
    bad.append('%%s: %%s' %% (' '.join(argv), e))
print(json.dumps(bad))
'''


@pytest.mark.slow
@pytest.mark.parametrize('script', sorted(COMMANDS))
def test_documented_commands_parse(script, tmp_path):
  commands = COMMANDS[script]
  if script == 'res_mnist_cluster.py':
    commands = [[a for a in argv if a.split('=')[0] not in LAUNCHER_FLAGS]
                for argv in commands]
    script = 'res_mnist.py'
  path = os.path.join(ROOT, script)
  assert os.path.exists(path), script
  program = tmp_path / 'check.py'
  program.write_text(CHECK % dict(root=ROOT, script=path,
                                  commands=json.dumps(commands)))
  result = run_script(str(program), timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def _anchor(heading):
  """GitHub's anchor of a heading: lower case, no punctuation but hyphens
  and underscores, spaces as hyphens."""
  return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


def _anchors(page):
  found, seen = set(), {}
  with open(os.path.join(ROOT, page)) as f:
    text = re.sub(r'^```.*?^```', '', f.read(), flags=re.M | re.S)
  for heading in re.findall(r'^#+ (.+)$', text, re.M):
    anchor = _anchor(heading)
    count = seen.get(anchor, 0)
    seen[anchor] = count + 1
    found.add(anchor if not count else '%s-%d' % (anchor, count))
  return found


def test_every_relative_link_and_anchor_exists():
  broken = []
  for page in PAGES:
    with open(os.path.join(ROOT, page)) as f:
      text = re.sub(r'^```.*?^```', '', f.read(), flags=re.M | re.S)
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
      if re.match(r'[a-z]+:', target):
        continue  # a web address
      path, _, anchor = target.partition('#')
      linked = os.path.normpath(os.path.join(os.path.dirname(page), path)) \
          if path else page
      if not os.path.exists(os.path.join(ROOT, linked)):
        broken.append('%s: %s (no such file)' % (page, target))
      elif anchor and anchor not in _anchors(linked):
        broken.append('%s: %s (no such heading)' % (page, target))
  assert not broken, '\n'.join(broken)


def test_every_network_and_preset_is_named_in_the_docs():
  from nets import nets_factory
  from resmnist.recipe import PRESETS
  text = ''
  for page in PAGES:
    with open(os.path.join(ROOT, page)) as f:
      text += f.read()
  missing = [name for name in list(nets_factory.NETWORKS) + list(PRESETS)
             if not re.search(r'\b%s\b' % re.escape(name), text)]
  assert not missing, missing
