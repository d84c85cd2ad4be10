"""Evaluates a checkpoint on the 10,000 MNIST test images.

    python res_mnist_eval.py                     # latest in model/
    python res_mnist_eval.py --checkpoint_path=model/my_model-300

Dropout is off and batch norm (if the checkpoint has it; that is read from
the checkpoint itself) uses its moving averages. Prints the step evaluated
and `test accuracy <value>`.
"""
import sys

from slim_compat import slim  # noqa: F401  (before TensorFlow: see slim_compat.py)
from absl import flags
import tensorflow.compat.v1 as tf

import checkpoints
import cli
import input_data
from res_mnist_inference import (EVAL_BATCH_SIZE, do_eval, eval_towers,
                                  evaluation, inference_in_towers,
                                  session_config)

flags.DEFINE_string('data_dir', 'MNIST_data',
                    'Directory of the MNIST gz files (downloaded if missing).')
flags.DEFINE_bool('check_sha256', True,
                  'Check the SHA-256 of the MNIST files; turn off for other '
                  'data in the same format (e.g. Fashion-MNIST).')
flags.DEFINE_string('model_dir', 'model', 'Directory of the checkpoints.')
flags.DEFINE_string('checkpoint_path', None,
                    'Checkpoint to evaluate, e.g. model/my_model-500; '
                    'default: the latest in --model_dir.')
flags.DEFINE_integer('eval_batch_size', EVAL_BATCH_SIZE,
                     'Images per evaluation step.', lower_bound=1)

FLAGS = flags.FLAGS


def evaluate(checkpoint_path, test_set):
  """Returns (global step, accuracy) of `checkpoint_path` on `test_set`."""
  with tf.Graph().as_default():
    x = tf.placeholder(tf.float32, [None, input_data.IMAGE_PIXELS],
                       name='x-input')
    y_ = tf.placeholder(tf.float32, [None, input_data.NUM_CLASSES],
                        name='y-input')
    towers = eval_towers(FLAGS.eval_batch_size)  # faster, same result
    y = inference_in_towers(
        x, towers, batch_norm=checkpoints.uses_batch_norm(checkpoint_path))
    global_step = tf.train.get_or_create_global_step()
    eval_correct = evaluation(y, y_)
    saver = tf.train.Saver()
    with tf.Session(config=session_config(towers)) as sess:
      checkpoints.restore(sess, saver, checkpoint_path)
      return sess.run(global_step), do_eval(
          sess, eval_correct, x, y_, test_set, FLAGS.eval_batch_size)


def main(_):
  try:
    checkpoint_path = checkpoints.find_checkpoint(FLAGS.model_dir,
                                                  FLAGS.checkpoint_path)
    mnist = input_data.read_data_sets(
        FLAGS.data_dir, one_hot=True, validation_size=0,
        sha256=input_data.MNIST_SHA256 if FLAGS.check_sha256 else None)
    step, accuracy = evaluate(checkpoint_path, mnist.test)
  except (input_data.DataError, checkpoints.CheckpointError) as e:
    sys.exit('res_mnist_eval.py: error: %s' % e)
  print('%s (step %d), %d test images' % (checkpoint_path, step,
                                          mnist.test.num_examples))
  print('test accuracy %.4f' % accuracy)


if __name__ == '__main__':
  cli.run(main)
