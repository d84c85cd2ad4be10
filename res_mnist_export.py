"""Exports a checkpoint as a SavedModel for TensorFlow Serving and plain TF2.

    python res_mnist_export.py                       # latest in model/ -> export/<step>
    python res_mnist_export.py --checkpoint_path=model/best/my_model-7150

The model is written to <export_dir>/<global step>, the versioned layout
that TensorFlow Serving watches. Two signatures, both dropout off:

  serving_default   images        float32 [None, 784], pixels in [0, 1]
  images_28x28      images_28x28  float32 [None, 28, 28, 1]

each returning `classes` (int64 [None]) and `probabilities` (float32
[None, 10]: of the logits divided by the model's temperature, where its
model.json has one); the model's model.json goes to assets.extra/, with
`"temperature": null` where the probabilities are not calibrated. In TF2:

    model = tf.saved_model.load('export/500')
    out = model.signatures['serving_default'](images=tf.zeros([1, 784]))
"""
from resmnist import cli
cli.start()  # before TensorFlow loads

import json  # noqa: E402
import os  # noqa: E402

from absl import flags  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

from nets import models  # noqa: E402
from nets import nets_factory  # noqa: E402
from resmnist import common_flags  # noqa: E402
from resmnist import errors  # noqa: E402
from resmnist import serving  # noqa: E402

common_flags.define_model_dir_flags(checkpoint_path=True)
common_flags.define_net_flag(nets_factory.NETWORKS)
flags.DEFINE_string('export_dir', 'export', 'The SavedModel goes to '
                    '<export_dir>/<global step>.')
flags.adopt_module_key_flags(common_flags)  # in --help

FLAGS = flags.FLAGS


def export(model, export_dir):
  """Writes the SavedModel of a `loader.EvalModel`; returns its directory.

  Raises:
    errors.Error: the directory exists already, or cannot be written.
  """
  path = os.path.join(export_dir, str(model.step_restored))
  if os.path.exists(path):
    raise errors.Error('%s already exists; remove it or give another '
                       '--export_dir' % path)
  try:
    with model.graph.as_default():
      builder = tf.saved_model.Builder(path)
      builder.add_meta_graph_and_variables(
          model.session, [tf.saved_model.tag_constants.SERVING],
          signature_def_map=serving.signature_defs(model),
          strip_default_attrs=True)
      builder.save()
    # Where TF Serving keeps a model's extra files: res_mnist_serve.py reads
    # the dataset (class names) from it. "temperature": null says that the
    # probabilities are the softmax of the logits as they are.
    os.makedirs(os.path.dirname(os.path.join(path, serving.INFO_FILE)))
    with open(os.path.join(path, serving.INFO_FILE), 'w') as f:
      json.dump(dict(model.info.as_json(), temperature=model.info.temperature),
                f, indent=2, sort_keys=True)
  except OSError as e:
    raise errors.Error('cannot write the SavedModel (%s)' % e)
  return path


def main(_):
  with models.load_model(FLAGS.model_dir, FLAGS.checkpoint_path,
                         net=common_flags.required_net(FLAGS)) as model:
    path = export(model, FLAGS.export_dir)
  print('Exported %s to %s' % (model.checkpoint_path, path))


if __name__ == '__main__':
  cli.run(main)
