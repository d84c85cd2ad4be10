"""res_mnist_predict.py on digits and numbers the tests draw, and its bad
input."""
import glob
import os
import re
import shutil
import struct

import numpy as np
import pytest

from conftest import (MNIST_DIR, encode_image, needs_mnist, one_line_error,
                      run_script, tf)
from nets import models
from resmnist import input_data
from test_photo import _number, _photo

# Each test runs the scripts for real: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow


def _draw(digit, index):
  """An MNIST digit as a person might photograph it: bigger, dark on light,
  off-centre on a larger page, in colour."""
  size = 40 + 17 * (index % 5)
  with tf.Graph().as_default(), tf.Session() as sess:
    big = sess.run(tf.compat.v2.image.resize(digit.reshape(28, 28, 1), [size, size]))
  page = np.ones((size + 60, size + 45, 1), np.float32)
  top, left = 10 + 7 * (index % 4), 5 + 9 * (index % 3)
  page[top:top + size, left:left + size] = 1 - np.clip(big, 0, 1)
  paper = np.array([0.95, 0.93, 0.85], np.float32)  # yellowish paper, blue ink
  ink = np.array([0.1, 0.1, 0.4], np.float32)
  rgb = page * paper + (1 - page) * ink
  return np.round(rgb * 255).astype(np.uint8)


def _predict_originals(model_dir, images):
  """The model's digits for the MNIST images themselves."""
  with models.load_model(model_dir, log=lambda _: None) as model:
    return model.logits_of(images).argmax(1)


@needs_mnist
def test_predict_drawn_digits_like_the_originals(real_run, tmp_path):
  real_model = real_run[0]
  test = input_data.read_data_sets(MNIST_DIR, validation_size=0).test
  images, labels = test.images[:30], test.labels[:30].argmax(1)
  paths = []
  for i, image in enumerate(images):
    kind = ('png', 'jpeg', 'bmp')[i % 3]
    path = tmp_path / ('digit%02d.%s' % (i, kind))
    path.write_bytes(encode_image(_draw(image, i), kind))
    paths.append(str(path))
  seen_dir = tmp_path / 'seen'
  # --min_confidence=0: every answer a digit, never "?" (unsure).
  result = run_script('res_mnist_predict.py', '--model_dir=' + real_model,
                      '--show_dir=%s' % seen_dir, '--min_confidence=0', *paths,
                      fresh=True)
  assert result.returncode == 0, result.stderr
  found = dict(re.findall(r'^(\S+): (\d)  \(\d: [\d.]+%, \d: [\d.]+%, \d: [\d.]+%\)$',
                          result.stdout, re.M))
  assert sorted(found) == sorted(paths)
  predicted = np.array([int(found[p]) for p in paths])
  original = _predict_originals(real_model, images)
  assert np.mean(predicted == original) >= 0.9, (predicted, original, labels)
  assert np.mean(predicted == labels) >= 0.85
  # Each file's 28x28 digit, and its cleaned page with the box found.
  seen = sorted(os.listdir(seen_dir))
  assert len(seen) == 60 and seen[:2] == ['digit00-boxes.png', 'digit00.png']


def test_predict_bad_files(small_model, tmp_path):
  good = tmp_path / 'good.png'
  image = np.full((50, 40, 3), 255, np.uint8)
  image[10:40, 18:23] = 0  # a dark vertical bar: a 1
  good.write_bytes(encode_image(image, 'png'))
  (tmp_path / 'text.png').write_text('not an image at all')
  (tmp_path / 'empty.jpg').write_bytes(b'')
  (tmp_path / 'blank.png').write_bytes(encode_image(np.full((30, 30, 3), 200, np.uint8), 'png'))
  (tmp_path / 'cut.png').write_bytes(good.read_bytes()[:60])
  os.mkdir(tmp_path / 'folder.png')
  names = ['text.png', 'good.png', 'empty.jpg', 'blank.png', 'cut.png',
           'folder.png', 'missing.png']
  result = run_script('res_mnist_predict.py', '--model_dir=' + small_model,
                      *[str(tmp_path / n) for n in names])
  assert result.returncode == 1
  assert re.match(r'^%s: \d  \(' % re.escape(str(good)), result.stdout)
  errors = result.stderr.strip().splitlines()
  expected = {
      'text.png': 'not an image (PNG, JPEG, BMP or GIF expected)',
      'empty.jpg': 'empty file',
      'blank.png': 'no digit found (the image is blank)',
      'cut.png': 'cannot decode the image',
      'folder.png': 'cannot read it (Is a directory)',
      'missing.png': 'cannot read it (No such file or directory)',
  }
  assert len(errors) == len(expected), result.stderr
  for line, name in zip(errors, [n for n in names if n != 'good.png']):
    assert line.startswith('res_mnist_predict.py: error: %s: %s'
                           % (tmp_path / name, expected[name])), line


def test_predict_needs_files_and_a_checkpoint(tmp_path):
  result = run_script('res_mnist_predict.py', '--model_dir=%s' % tmp_path)
  assert result.returncode == 1
  assert 'give one or more image files' in result.stderr
  result = run_script('res_mnist_predict.py', '--model_dir=%s' % tmp_path, 'x.png')
  assert result.returncode == 1
  assert 'no checkpoint found' in result.stderr


@pytest.mark.parametrize('script', ['res_mnist_predict.py',
                                    'res_mnist_export.py'])
def test_corrupt_checkpoint_is_one_line(small_model, tmp_path, script):
  model_dir = str(tmp_path / 'model')
  # A copy: the fixture's model stays intact, and a moved model dir must
  # still find its own checkpoints (relative paths in `checkpoint`).
  shutil.copytree(small_model, model_dir)
  data_file = glob.glob(model_dir + '/my_model-20.data-*')[0]
  with open(data_file, 'r+b') as f:
    f.truncate(os.path.getsize(data_file) // 2)
  image = tmp_path / 'one.png'
  pixels = np.full((28, 28, 3), 255, np.uint8)
  pixels[4:24, 12:16] = 0
  image.write_bytes(encode_image(pixels, 'png'))
  export_dir = tmp_path / 'export'
  result = run_script(script, '--model_dir=' + model_dir,
                      '--export_dir=%s' % export_dir if 'export' in script
                      else str(image))
  assert result.returncode == 1
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert re.match(r'%s: error: .*my_model-20: cannot (read|restore) the '
                  r'checkpoint \(.*\); it may be truncated or corrupt$'
                  % script, lines[0]), lines[0]
  assert not export_dir.exists() or not os.listdir(export_dir)


def test_predict_numbers_and_bad_files(small_model, tmp_path):
  one = tmp_path / 'one.png'
  one.write_bytes(encode_image(_photo(_number('1', 40, 0)[0]), 'png'))
  number = tmp_path / 'number.jpg'
  number_ink, _ = _number('704', 40, 0.3)
  number.write_bytes(encode_image(_photo(number_ink, 'all', (0.97, 0.93, 0.8),
                                    noise=0.02), 'jpeg'))
  (tmp_path / 'text.png').write_text('not an image at all')
  (tmp_path / 'empty.jpg').write_bytes(b'')
  (tmp_path / 'cut.png').write_bytes(one.read_bytes()[:60])
  names = ['empty.jpg', 'one.png', 'text.png', 'number.jpg', 'cut.png']
  seen = tmp_path / 'seen'
  result = run_script('res_mnist_predict.py', '--model_dir=' + small_model,
                      '--show_dir=%s' % seen, '--min_confidence=0',
                      *[str(tmp_path / n) for n in names])
  assert result.returncode == 1
  lines = result.stdout.splitlines()
  # One digit: today's format; a number: each digit's probability.
  assert re.match(r'^%s: \d  \(\d: [\d.]+%%, \d: [\d.]+%%, \d: [\d.]+%%\)$'
                  % re.escape(str(one)), lines[0]), lines
  assert re.match(r'^%s: \d{3}  \(\d: [\d.]+%%, \d: [\d.]+%%, \d: [\d.]+%%\)$'
                  % re.escape(str(number)), lines[1]), lines
  assert len(lines) == 2
  errors = result.stderr.strip().splitlines()
  assert [e.split(': ')[2] for e in errors] == [
      str(tmp_path / n) for n in ('empty.jpg', 'text.png', 'cut.png')]
  assert all(e.startswith('res_mnist_predict.py: error: ') for e in errors)
  assert sorted(os.listdir(seen)) == [
      'number-1.png', 'number-2.png', 'number-3.png', 'number-boxes.png',
      'one-boxes.png', 'one.png']
  assert _png_size(seen / 'number-2.png') == (28, 28)
  assert _png_size(seen / 'number-boxes.png') == (number_ink.shape[1],
                                                  number_ink.shape[0])


def test_unsure_digits_are_question_marks():
  from res_mnist_predict import answer
  names = [str(d) for d in range(10)]
  sure = np.array([0.02, 0.05, 0, 0, 0, 0, 0, 0.91, 0.01, 0.01])
  unsure = np.array([0.03, 0.03, 0.45, 0.3, 0.1, 0.03, 0.03, 0.03, 0, 0])
  assert answer(sure[None], names, 0.7) == '7  (7: 91.0%, 1: 5.0%, 0: 2.0%)'
  assert answer(unsure[None], names, 0.7) == (
      '? unsure  (2: 45.0%, 3: 30.0%, 4: 10.0%)')
  assert answer(unsure[None], names, 0.4) == '2  (2: 45.0%, 3: 30.0%, 4: 10.0%)'
  assert answer(np.stack([sure, unsure, sure]), names, 0.7) == (
      '7?7 unsure  (7: 91.0%, ?: 2 45.0% or 3 30.0% or 4 10.0%, 7: 91.0%)')


def test_predict_bad_confidence_flag(tmp_path):
  line = one_line_error(run_script('res_mnist_predict.py', '--min_confidence=2',
                                   str(tmp_path / 'x.png')),
                        script='res_mnist_predict.py')
  assert '--min_confidence' in line


def _png_size(path):
  with open(path, 'rb') as f:
    return struct.unpack('>II', f.read(24)[16:24])  # IHDR width, height
