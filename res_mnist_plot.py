"""Draws the training curves of a run to a PNG, from its TensorBoard events.

    python res_mnist_plot.py --model_dir=model     # writes model/training_curves.png

Two panels, accuracy and loss, each with the training batches (every
--log_every steps, dropout on) and the validation split (every --eval_every
steps) as res_mnist.py wrote them. Needs matplotlib
(`pip install -r requirements-extra.txt`); `tensorboard --logdir model`
shows the same curves live.
"""
from resmnist import cli
cli.start()  # before TensorFlow loads

import glob  # noqa: E402
import os  # noqa: E402

from absl import flags  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

from resmnist import common_flags  # noqa: E402
from resmnist import errors  # noqa: E402

common_flags.define_model_dir_flags()
flags.DEFINE_string('output', None, 'PNG to write; default '
                    '<model_dir>/training_curves.png.')
flags.adopt_module_key_flags(common_flags)  # in --help

FLAGS = flags.FLAGS


def read_scalars(directory):
  """Returns {tag: [(step, value), ...]} from the event files of `directory`."""
  scalars = {}
  for path in sorted(glob.glob(os.path.join(directory, 'events.out.tfevents.*'))):
    try:
      for event in tf.train.summary_iterator(path):
        for value in event.summary.value:
          if value.HasField('simple_value'):
            scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    except tf.errors.DataLossError:
      pass  # a run stopped mid-write leaves a truncated last record
  return {tag: sorted(points.items()) for tag, points in scalars.items()}


def plot(train, validation, output):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  figure, axes = plt.subplots(1, 2, figsize=(11, 4))
  for axis, tag, title in ((axes[0], 'accuracy', 'Accuracy'),
                           (axes[1], 'loss', 'Loss')):
    for scalars, label in ((train, 'training batch'), (validation, 'validation')):
      if scalars.get(tag):
        steps, values = zip(*scalars[tag])
        axis.plot(steps, values, label=label, marker='.' if len(steps) < 30 else None)
    axis.set_title(title)
    axis.set_xlabel('step')
    axis.grid(alpha=0.3)
    axis.legend()
  axes[1].set_yscale('log')
  figure.tight_layout()
  figure.savefig(output, dpi=100)


def main(_):
  train = read_scalars(FLAGS.model_dir)
  validation = read_scalars(os.path.join(FLAGS.model_dir, 'validation'))
  if not train.get('loss'):
    raise errors.Error('%s: no training summaries found; train with '
                       '`python res_mnist.py --model_dir=%s` first'
                       % (FLAGS.model_dir, FLAGS.model_dir))
  try:
    import matplotlib  # noqa: F401
  except ImportError:
    raise errors.Error('matplotlib is not installed; run '
                       '`pip install -r requirements-extra.txt`')
  output = FLAGS.output or os.path.join(FLAGS.model_dir, 'training_curves.png')
  plot(train, validation, output)
  print('Wrote %s (%d training points, %d validation points)'
        % (output, len(train['loss']), len(validation.get('accuracy', []))))


if __name__ == '__main__':
  cli.run(main)
