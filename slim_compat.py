"""Make tf-slim 1.1.0 (its last release, 2020) work on current TensorFlow.

Import this module instead of `tf_slim`, before TensorFlow itself:

    from slim_compat import slim
    import tensorflow.compat.v1 as tf

tf-slim still looks up two names at their TF 2.13 places:
`tensorflow.python.framework.ops.Tensor` (now in `...framework.tensor`) and
`tensorflow.python.ops.control_flow_ops.cond` (now in `...ops.cond`). Without
them `slim.batch_norm` fails. Putting the names back where tf-slim looks is
the whole fix; nothing else in tf-slim is changed.

Batch norm in this package always uses `updates_collections=None` (the
fused kernel that updates the moving averages in place), because tf-slim's
default `UPDATE_OPS` path needs the separate `tf-keras` package.

It also keeps TensorFlow's start-up chatter (C++ INFO lines logged before
logging is configured, deprecation notices of the TF1 API that this package
uses on purpose) off the terminal, so that what the scripts print can be
read. Set TF_CPP_MIN_LOG_LEVEL=0 to see it again.
"""
import os
import warnings

# Errors reach the user as Python exceptions, which the scripts turn into one
# line; TF's C++ log would repeat them (and warn about absent GPUs) around it.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')


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
  _tf.get_logger().setLevel('ERROR')
  # tf-slim calls the TF1 layers through `layer.apply`, deprecated since TF2.
  warnings.filterwarnings('ignore', message=r'`(layer\.apply|tf\.layers\.\w+)` is deprecated')

__all__ = ['slim']
