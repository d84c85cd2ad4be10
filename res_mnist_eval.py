"""Evaluates a checkpoint on the 10,000 test images of its dataset.

    python res_mnist_eval.py                     # latest in model/
    python res_mnist_eval.py --checkpoint_path=model/my_model-300
    python res_mnist_eval.py --report=report     # and what it gets wrong

The network and the dataset (MNIST or Fashion-MNIST) are those the model
directory's `model.json` names (for a model directory made before that file
existed, the ResNet on MNIST, with batch norm if its checkpoint has it);
dropout off, batch norm on its moving averages. Prints the step evaluated,
`test accuracy <value>`, and how well its probabilities are calibrated:
the expected calibration error (ECE) on the test images without and with
the model's temperature. A model without a temperature (trained before
they were fitted) gets one here, fitted on its held-out images
(`calibration.held_out`) and kept in its `model.json`. With `--tta`, each
test image is also read in variants and the probabilities averaged: digits
shifted, turned, thinner and bolder (9 readings); clothes as they are and
mirrored (2). With `--report=DIR`, also each class's precision and recall
and the confusion matrix, and in DIR `report.json`, `confusion.png`,
`misread.png` and `reliability.png` (`resmnist/report.py`).
"""
from resmnist import cli
cli.start()  # before TensorFlow loads

import dataclasses  # noqa: E402
import os  # noqa: E402

from absl import flags  # noqa: E402

from nets import models  # noqa: E402
from nets import nets_factory  # noqa: E402
from resmnist import calibration  # noqa: E402
from resmnist import common_flags  # noqa: E402
from resmnist import input_data  # noqa: E402
from resmnist import model_dir as model_dirs  # noqa: E402
from resmnist import photo  # noqa: E402
from resmnist import report  # noqa: E402
from resmnist import runtime  # noqa: E402
from resmnist.recipe import Recipe  # noqa: E402

common_flags.define_data_flags()
common_flags.define_model_dir_flags(checkpoint_path=True)
common_flags.define_net_flag(nets_factory.NETWORKS)
flags.DEFINE_integer('eval_batch_size', runtime.EVAL_BATCH_SIZE,
                     'Images per evaluation step.', lower_bound=1)
flags.DEFINE_bool('averaged', True, 'Where the checkpoint holds moving '
                  'averages of the weights (--moving_average_decay, '
                  '--swa_start), evaluate '
                  'them; --noaveraged: the weights themselves.')
common_flags.define_reader_flags(min_confidence=False)  # --tta
flags.DEFINE_string('report', None, 'Also print each class\'s precision '
                    'and recall and the confusion matrix, and write to this '
                    'directory report.json, confusion.png, misread.png and '
                    'reliability.png (they need matplotlib).')
flags.adopt_module_key_flags(common_flags)  # in --help

FLAGS = flags.FLAGS


def mirrored(classify):
  """`classify` averaged over each image and its left-right mirror (a
  mirrored shoe is a shoe)."""
  def averaged(images):
    return (classify(images) + classify(images[:, :, ::-1])) / 2
  return averaged


def _read_data(info):
  """The model's dataset, split as it was trained (where it has no
  temperature yet, its held-out images are fitted on), or, where that
  split cannot be made, with every training image in the training split."""
  size = 0 if info.temperature else (info.recipe or {}).get(
      'validation_size', Recipe.validation_size)
  try:
    return common_flags.read_data(FLAGS, info.dataset, size)
  except input_data.DataError:
    if not size:
      raise
    return common_flags.read_data(FLAGS, info.dataset, 0)


def _calibrated(model, data):
  """The model's temperature, and a line that says where it comes from:
  its `model.json`, or fitted now on its held-out images and written
  there."""
  info = model.info
  if info.temperature:
    return info.temperature, 'temperature %.3f (model.json)' % (
        info.temperature)
  temperature, fitted = calibration.fit(model.logits_of, data)
  path = model_dirs.info_path(model.checkpoint_path)
  try:
    model_dirs.write_info(os.path.dirname(path),
                          dataclasses.replace(info, temperature=temperature))
    return temperature, '%s, written to %s' % (fitted, path)
  except OSError as e:
    return temperature, '%s, not written to %s (%s)' % (fitted, path,
                                                         e.strerror or e)


def main(_):
  # In towers: faster, same result.
  with models.load_model(FLAGS.model_dir, FLAGS.checkpoint_path,
                         net=common_flags.required_net(FLAGS),
                         eval_batch_size=FLAGS.eval_batch_size,
                         averaged=FLAGS.averaged) as model:
    info = model.info
    data = _read_data(info)
    temperature, source = _calibrated(model, data)
    tta = None
    if FLAGS.tta:
      tta = (mirrored if input_data.DATASETS[info.dataset].mirror_invariant
             else photo.test_time_augmented)
    images = data.test.images.reshape(-1, input_data.IMAGE_SIZE,
                                      input_data.IMAGE_SIZE)
    before, after = report.readings(model.logits_of, images, temperature,
                                    tta=tta, batch_size=FLAGS.eval_batch_size)
  labels = data.test.labels.argmax(axis=1)
  numbers = report.compute(
      before, after, labels, input_data.DATASETS[info.dataset].class_names,
      checkpoint=model.checkpoint_path, step=model.step_restored,
      temperature=temperature, tta=FLAGS.tta)
  print('%s (step %d), %d test images' % (
      model.checkpoint_path, model.step_restored, data.test.num_examples))
  print('test accuracy %.4f%s' % (numbers['accuracy'],
                                   ' (with --tta)' if FLAGS.tta else ''))
  print('calibration: %s; test ECE %.2f%% before, %.2f%% after'
        % (source, 100 * numbers['ece_before'], 100 * numbers['ece_after']))
  if FLAGS.report:
    print()
    print(report.table(numbers))
    report.write(numbers, images, FLAGS.report)
    print('\nreport written to %s (report.json, confusion.png, misread.png, '
          'reliability.png)' % FLAGS.report)


if __name__ == '__main__':
  cli.run(main)
