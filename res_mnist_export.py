"""Exports a checkpoint as a SavedModel for TensorFlow Serving and plain TF2.

    python res_mnist_export.py                       # latest in model/ -> export/<step>
    python res_mnist_export.py --checkpoint_path=model/best/my_model-7150

The model is written to <export_dir>/<global step>, the versioned layout
that TensorFlow Serving watches. Two signatures, both dropout off:

  serving_default   images        float32 [None, 784], pixels in [0, 1]
  images_28x28      images_28x28  float32 [None, 28, 28, 1]

each returning `classes` (int64 [None]) and `probabilities` (float32
[None, 10]). In TF2:

    model = tf.saved_model.load('export/500')
    out = model.signatures['serving_default'](images=tf.zeros([1, 784]))
"""
import os
import sys

from slim_compat import slim  # noqa: F401  (before TensorFlow: see slim_compat.py)
from absl import flags
import tensorflow.compat.v1 as tf

import checkpoints
import cli
import input_data
from res_mnist_inference import inference

flags.DEFINE_string('model_dir', 'model', 'Directory of the checkpoints.')
flags.DEFINE_string('checkpoint_path', None, 'Checkpoint to export; default: '
                    'the latest in --model_dir.')
flags.DEFINE_string('export_dir', 'export', 'The SavedModel goes to '
                    '<export_dir>/<global step>.')

FLAGS = flags.FLAGS


def export(checkpoint_path, export_dir):
  """Writes the SavedModel of `checkpoint_path`; returns its directory."""
  graph = tf.Graph()
  with graph.as_default():
    images_28x28 = tf.placeholder(
        tf.float32, [None, input_data.IMAGE_SIZE, input_data.IMAGE_SIZE, 1],
        name='images_28x28')
    # Feeding `images` cuts the graph above it, so each signature needs only
    # its own input.
    images = tf.placeholder_with_default(
        tf.reshape(images_28x28, [-1, input_data.IMAGE_PIXELS]),
        [None, input_data.IMAGE_PIXELS], name='images')
    logits = inference(images,
                       batch_norm=checkpoints.uses_batch_norm(checkpoint_path))
    outputs = {'classes': tf.argmax(logits, 1, name='classes'),
               'probabilities': tf.nn.softmax(logits, name='probabilities')}
    global_step = tf.train.get_or_create_global_step()
    saver = tf.train.Saver()
    with tf.Session() as sess:
      checkpoints.restore(sess, saver, checkpoint_path)
      path = os.path.join(export_dir, str(sess.run(global_step)))
      if os.path.exists(path):
        raise checkpoints.CheckpointError('%s already exists; remove it or '
                                          'give another --export_dir' % path)
      builder = tf.saved_model.Builder(path)
      builder.add_meta_graph_and_variables(
          sess, [tf.saved_model.tag_constants.SERVING],
          signature_def_map={
              'serving_default': tf.saved_model.predict_signature_def(
                  {'images': images}, outputs),
              'images_28x28': tf.saved_model.predict_signature_def(
                  {'images_28x28': images_28x28}, outputs),
          },
          main_op=tf.tables_initializer(), strip_default_attrs=True)
      builder.save()
  return path


def main(_):
  try:
    checkpoint_path = checkpoints.find_checkpoint(FLAGS.model_dir,
                                                  FLAGS.checkpoint_path)
    path = export(checkpoint_path, FLAGS.export_dir)
  except checkpoints.CheckpointError as e:
    sys.exit('res_mnist_export.py: error: %s' % e)
  except OSError as e:
    sys.exit('res_mnist_export.py: error: cannot write the SavedModel (%s)' % e)
  print('Exported %s to %s' % (checkpoint_path, path))


if __name__ == '__main__':
  cli.run(main)
