"""The project's scripts run as `python -u SCRIPT ARGS` runs them, but
forked from a server process that has imported TensorFlow once
(multiprocessing's forkserver): a script starts in about 0.1 s instead of
4 s. conftest's `run_script` and `Process` start scripts here unless told
`fresh=True`, which starts a new Python as a user does."""
import multiprocessing
import os
import runpy
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from resmnist import cli  # noqa: E402

cli.start()  # the scripts' environment, TensorFlow imported quietly

# Imported once, in the server: what the scripts import that takes time.
PRELOAD = ['forked_scripts', 'tf_slim', 'numpy', 'scipy.ndimage',
           'scipy.optimize', 'scipy.special', 'PIL.Image']

_context = multiprocessing.get_context('forkserver')
_context.set_forkserver_preload(PRELOAD)


def _main(script, args, cwd, env, output, errors):
  """The forked child: `script` as __main__, its output in two files (one
  when they are the same path), line by line as `python -u` writes it."""
  os.chdir(cwd)
  os.environ.clear()
  os.environ.update(env)
  for fd, path in ((1, output), (2, errors)):
    opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(opened, fd)
    os.close(opened)
  sys.stdout = open(1, 'w', buffering=1, closefd=False)
  sys.stderr = open(2, 'w', buffering=1, closefd=False)
  sys.argv = [script] + list(args)
  sys.path.insert(0, os.path.dirname(script))
  runpy.run_path(script, run_name='__main__')


def start(script, args, cwd, env, output, errors):
  """The started child: a multiprocessing.Process (pid, exitcode, kill)."""
  child = _context.Process(target=_main, daemon=True,
                           args=(script, args, cwd, env, output, errors))
  child.start()
  return child
