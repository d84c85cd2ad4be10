"""The library behind the res_mnist scripts: data, recipe, training loop,
checkpoints, model directories, runtime settings, cluster and photos.

The library imports no network and no script: the networks (`nets/`,
`resnet.py`, `res_mnist_inference.py`) import it, and `nets/nets_factory.py`
joins the two, handing a network function to the training graph and the
loader, as tf-slim's `train_image_classifier.py` does.

    from resmnist import slim      # tf-slim, working on today's TensorFlow

tf-slim 1.1.0 (its last release, 2020) looks up two names at their
TensorFlow 2.13 places: `tensorflow.python.framework.ops.Tensor` (now in
`...framework.tensor`) and `tensorflow.python.ops.control_flow_ops.cond`
(now in `...ops.cond`); without them `slim.batch_norm` fails. The first
`resmnist.slim` puts the names back where tf-slim looks; that, and loading
TensorFlow, is all an import of this package does to the process. (Batch
norm here always uses `updates_collections=None`: tf-slim's default
`UPDATE_OPS` path needs the separate `tf-keras` package.)

The scripts' own start-up (TensorFlow's environment and its log) is
`cli.start`.
"""


def _tf_slim():
  from tensorflow.python.framework import ops
  from tensorflow.python.ops import control_flow_ops
  if not hasattr(ops, 'Tensor'):
    from tensorflow.python.framework import tensor
    ops.Tensor = tensor.Tensor
  if not hasattr(control_flow_ops, 'cond'):
    from tensorflow.python.ops import cond
    control_flow_ops.cond = cond.cond
  import tf_slim
  return tf_slim


def __getattr__(name):
  # Lazy, so that `from resmnist import cli` does not load TensorFlow before
  # `cli.start` has set its environment.
  if name == 'slim':
    globals()['slim'] = _tf_slim()
    return globals()['slim']
  raise AttributeError('module %r has no attribute %r' % (__name__, name))
