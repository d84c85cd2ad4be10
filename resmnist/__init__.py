"""The package behind the res_mnist scripts; importing it readies TensorFlow.

Any `import resmnist...` (every script and module of this package starts
with one) first does two things, before TensorFlow is used:

    from resmnist import slim      # tf-slim, working on today's TensorFlow
    import tensorflow.compat.v1 as tf

1. It makes tf-slim 1.1.0 (its last release, 2020) work on current
   TensorFlow. tf-slim still looks up two names at their TF 2.13 places:
   `tensorflow.python.framework.ops.Tensor` (now in `...framework.tensor`)
   and `tensorflow.python.ops.control_flow_ops.cond` (now in `...ops.cond`).
   Without them `slim.batch_norm` fails. Putting the names back where
   tf-slim looks is the whole fix; nothing else in tf-slim is changed.
   Batch norm in this package always uses `updates_collections=None` (the
   fused kernel that updates the moving averages in place), because
   tf-slim's default `UPDATE_OPS` path needs the separate `tf-keras` package.
2. It keeps TensorFlow's start-up chatter (C++ INFO lines logged before
   logging is configured, deprecation notices of the TF1 API that this
   package uses on purpose) off the terminal, so that what the scripts print
   can be read. Set TF_CPP_MIN_LOG_LEVEL=0 to see it again.
3. It turns TensorFlow's oneDNN kernels on (TF_ENABLE_ONEDNN_OPTS=1) where
   TensorFlow would leave them off. TensorFlow turns them on by itself only
   on CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX; elsewhere (an
   AVX2-only AMD EPYC, say) it runs its Eigen kernels: there oneDNN made
   the training step 1.3-1.5 times and evaluation 1.2-1.3 times as fast
   (docs/speed.md).
   The results are those of the CPUs that have oneDNN on anyway (another
   round-off, within the seeds' spread). Set TF_ENABLE_ONEDNN_OPTS=0 to
   keep TensorFlow's choice.

Modules: `input_data` (the IDX reader), `recipe` (the settings of a training
run), `training` (the training graph and the hooks of its loop), `loader`
(the one way to load a trained model), `model_dir` (what a model directory
holds), `checkpoints`, `runtime` (CPU session settings), `towers` (a batch
split across copies of a network), `common_flags` (flags that several
scripts share) and `cli` (how each script starts). The networks are in
`nets/`.
"""
import os
import warnings

# Errors reach the user as Python exceptions, which the scripts turn into one
# line; TF's C++ log would repeat them (and warn about absent GPUs) around it.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# Read once, when TensorFlow loads: it must be set before the import.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')


def _import_tensorflow_quietly():
  if os.environ['TF_CPP_MIN_LOG_LEVEL'] == '0':
    import tensorflow  # noqa: F401
    return
  # Those INFO lines are written to fd 2 before TF_CPP_MIN_LOG_LEVEL is read.
  saved_stderr = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, 2)
  try:
    import tensorflow  # noqa: F401
  finally:
    os.dup2(saved_stderr, 2)
    os.close(saved_stderr)
    os.close(devnull)


_import_tensorflow_quietly()

import tensorflow.compat.v1 as _tf  # noqa: E402
from tensorflow.python.framework import ops as _ops  # noqa: E402
from tensorflow.python.ops import control_flow_ops as _control_flow_ops  # noqa: E402

if not hasattr(_ops, 'Tensor'):
  from tensorflow.python.framework import tensor as _tensor
  _ops.Tensor = _tensor.Tensor
if not hasattr(_control_flow_ops, 'cond'):
  from tensorflow.python.ops import cond as _cond
  _control_flow_ops.cond = _cond.cond

import tf_slim as slim  # noqa: E402  (must come after the fix above)

if os.environ['TF_CPP_MIN_LOG_LEVEL'] != '0':
  # Its Python-side errors too (e.g. NanTensorHook's): the scripts report
  # every error in one line of their own.
  _tf.get_logger().setLevel('CRITICAL')
  # tf-slim calls the TF1 layers through `layer.apply`, deprecated since TF2.
  warnings.filterwarnings('ignore', message=r'`(layer\.apply|tf\.layers\.\w+)` is deprecated')

__all__ = ['slim']
