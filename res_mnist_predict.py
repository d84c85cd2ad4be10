"""Reads handwritten digits and numbers in your own image files and photos.

    python res_mnist_predict.py my_digit.png 2026.jpg
    python res_mnist_predict.py --show_dir=seen 2026.jpg   # what it saw, as PNGs

For each file (PNG, JPEG, BMP or GIF; any size; colour or grey; dark ink on
light paper or light on dark) it prints the digit, or the number read left
to right, and how sure the network is:

    my_digit.png: 7  (7: 99.9%, 2: 0.1%, 1: 0.0%)
    2026.jpg: 2026  (2: 99.9%, 0: 99.8%, 2: 97.0%, 6: 99.1%)
    smudge.png: ? unsure  (7: 45.0%, 2: 30.1%, 1: 10.0%)

A digit whose top probability is below --min_confidence (default 0.7) is
printed as `?`, the line says `unsure`, and the top three guesses are shown
for it. How well photos are read, and what the threshold catches, is
measured by bench/photo_digits.py (docs/usage.md).

First the page is cleaned (`resmnist/photo.py`): the paper's light, shadows,
colour and noise are estimated and taken away, so that only ink is left.
The ink is split into digits (connected strokes; a 5's cap or a broken 4
joined; touching digits cut), and each digit is made to look like an MNIST
digit, as MNIST itself was made: cropped to its ink, scaled into a 20x20 box
keeping its aspect ratio, placed in 28x28 with its centre of mass in the
middle. --show_dir writes, for each file, the cleaned page with the boxes
found (`NAME-boxes.png`) and the 28x28 images the network saw (`NAME.png`
for one digit, `NAME-1.png`, `NAME-2.png`... for a number). A model of
Fashion-MNIST reads one item per image, on its even background, as before.
A file that cannot be read is reported in one line; the others are still
read, and the exit status is 1.
"""
from resmnist import cli
cli.start()  # before TensorFlow loads

import os  # noqa: E402
import sys  # noqa: E402

from absl import flags  # noqa: E402
import numpy as np  # noqa: E402

from nets import models  # noqa: E402
from nets import nets_factory  # noqa: E402
from resmnist import common_flags  # noqa: E402
from resmnist import errors  # noqa: E402
from resmnist import input_data  # noqa: E402
from resmnist import photo  # noqa: E402

common_flags.define_model_dir_flags(checkpoint_path=True)
common_flags.define_net_flag(nets_factory.NETWORKS)
flags.DEFINE_string('show_dir', None, 'If set, write there, for each file, '
                    'the cleaned page with the boxes found and the 28x28 '
                    'images the network saw, as PNG.')
common_flags.define_reader_flags()
flags.adopt_module_key_flags(common_flags)  # in --help

FLAGS = flags.FLAGS


def answer(probabilities, class_names, min_confidence):
  """What follows `path: ` on a file's line, for its digits' probabilities:
  the digits read (`?` where unsure), and how probable each is."""
  sure = probabilities.max(axis=1) >= min_confidence
  text = ''.join(class_names[p.argmax()] if ok else '?'
                 for p, ok in zip(probabilities, sure))
  if not sure.all():
    text += ' unsure'

  def best(p, count, form):
    return [form % (class_names[d], 100 * p[d]) for d in np.argsort(-p)[:count]]

  if len(probabilities) == 1:  # one digit: its three best guesses
    details = best(probabilities[0], 3, '%s: %.1f%%')
  else:  # a number: each digit's, and an unsure one's three best
    details = [best(p, 1, '%s: %.1f%%')[0] if ok else
               '?: ' + ' or '.join(best(p, 3, '%s %.1f%%'))
               for p, ok in zip(probabilities, sure)]
  return '%s  (%s)' % (text, ', '.join(details))


def _write_seen(page, path, reader):
  """--show_dir: the cleaned page with its boxes, and the digits seen."""
  name = os.path.join(FLAGS.show_dir,
                      os.path.splitext(os.path.basename(path))[0])
  images = {name + '-boxes.png': photo.boxes_image(page)}
  for i, digit in enumerate(page.digits):
    number = '-%d' % (i + 1) if len(page.digits) > 1 else ''
    images[name + number + '.png'] = np.round(
        digit * 255).astype(np.uint8)[:, :, None]
  for image_path, pixels in images.items():
    try:
      with open(image_path, 'wb') as f:
        f.write(reader.png(pixels))
    except OSError as e:
      raise errors.Error('%s: cannot write it (%s)'
                         % (image_path, e.strerror or e))


def _read_file(path, reader, classify, numbers):
  """The `photo.Page` of the image file `path`; photo.ImageError if none."""
  try:
    with open(path, 'rb') as f:
      contents = f.read()
  except OSError as e:
    raise photo.ImageError('cannot read it (%s)' % (e.strerror or e))
  return reader.read(contents, classify, numbers=numbers)


def main(argv):
  paths = argv[1:]
  if not paths:
    raise errors.Error('give one or more image files, e.g. `python '
                       'res_mnist_predict.py my_digit.png`')
  model = models.load_model(FLAGS.model_dir, FLAGS.checkpoint_path,
                            net=common_flags.required_net(FLAGS))
  dataset = model.info.dataset
  class_names = input_data.DATASETS[dataset].class_names
  if FLAGS.show_dir:
    try:
      os.makedirs(FLAGS.show_dir, exist_ok=True)
    except OSError as e:
      raise errors.Error('%s: cannot create it (%s)'
                         % (FLAGS.show_dir, e.strerror or e))

  def classify(digits):
    return model.predict(digits.reshape(len(digits), -1))

  if FLAGS.tta:
    classify = photo.test_time_augmented(classify)

  reader = photo.Reader()
  failures = 0
  for path in paths:
    try:
      # Only digits come as numbers, on paper that may be uneven.
      page = _read_file(path, reader, classify, numbers=dataset == 'mnist')
    except photo.ImageError as e:
      print('res_mnist_predict.py: error: %s: %s' % (path, e), file=sys.stderr)
      failures += 1
      continue
    print('%s: %s' % (path, answer(page.probabilities, class_names,
                                   FLAGS.min_confidence)))
    if FLAGS.show_dir:
      _write_seen(page, path, reader)
  reader.close()
  model.close()
  if failures:
    sys.exit(1)


if __name__ == '__main__':
  cli.run(main)
