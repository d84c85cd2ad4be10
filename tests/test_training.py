"""The training graph of res_mnist.py: augmentation, Cutout, Random
Erasing, label smoothing, schedules, the train op, the weights' averages."""
import numpy as np
import pytest

from conftest import in_training_graph, logged_losses, tf, train_here
import res_mnist_inference
from resmnist import augmentation
from resmnist import optimization
from resmnist.recipe import Recipe


def test_distort_images_identity_and_shift():
  images = np.zeros((2, 28, 28), np.float32)
  images[:, 10:14, 12:16] = 1.0
  with tf.Graph().as_default():
    still = dict(max_rotation_degrees=0.0, max_scale_change=0.0)
    same = augmentation.distort_images(tf.constant(images.reshape(2, 784)),
                                   max_shift_pixels=0.0, **still)
    shifted = augmentation.distort_images(tf.constant(images.reshape(2, 784)),
                                      max_shift_pixels=2.0, **still)
    with tf.Session() as sess:
      np.testing.assert_allclose(sess.run(same), images.reshape(2, 784),
                                 atol=1e-6)
      for _ in range(5):
        out = sess.run(shifted).reshape(2, 28, 28)
        for image in out:
          rows, cols = np.nonzero(image > 0.01)
          # The square moves by at most 2 pixels and keeps its mass.
          assert 8 <= rows.min() and rows.max() <= 15
          assert 10 <= cols.min() and cols.max() <= 17
          assert abs(image.sum() - 16) < 0.5


def test_distort_images_stays_in_range():
  images = np.random.RandomState(0).rand(16, 784).astype(np.float32)
  with tf.Graph().as_default():
    out = augmentation.distort_images(tf.constant(images), seed=1)
    with tf.Session() as sess:
      value = sess.run(out)
  assert value.shape == (16, 784)
  assert value.min() >= 0 and value.max() <= 1
  assert not np.allclose(value, images)


def test_distort_images_flips_only_when_asked():
  images = np.zeros((64, 28, 28), np.float32)
  images[:, :, :5] = 1.0  # a bar on the left edge
  still = dict(max_rotation_degrees=0.0, max_scale_change=0.0,
               max_shift_pixels=0.0)
  with tf.Graph().as_default():
    flipped = augmentation.distort_images(tf.constant(images.reshape(64, 784)),
                                      seed=1, flip=True, **still)
    with tf.Session() as sess:
      out = sess.run(flipped).reshape(64, 28, 28)
  mirrored = np.isclose(out, images[:, :, ::-1], atol=1e-6).all(axis=(1, 2))
  kept = np.isclose(out, images, atol=1e-6).all(axis=(1, 2))
  assert (mirrored | kept).all()
  assert 16 <= mirrored.sum() <= 48  # about half, each image on its own


def test_only_fashion_mnist_graphs_flip(tmp_path):
  for dataset, flips in (('mnist', False), ('fashion_mnist', True)):
    ops = in_training_graph(
        Recipe(net='lenet5', dataset=dataset, augment=True), tmp_path / dataset,
        lambda session: [op.type for op in session.graph.get_operations()])
    assert ('ReverseV2' in ops) == flips, dataset


def _moved(image, rows, cols):
  """`image` moved by whole pixels, zeros where it leaves the frame."""
  out = np.zeros_like(image)
  out[max(rows, 0):28 + min(rows, 0), max(cols, 0):28 + min(cols, 0)] = \
      image[max(-rows, 0):28 - max(rows, 0), max(-cols, 0):28 - max(cols, 0)]
  return out


def _flips_and_moves(image, limit=2):
  """Every mirror and whole-pixel move of `image` within `limit`."""
  return {(flipped, rows, cols): _moved(source, rows, cols)
          for flipped, source in ((False, image), (True, image[:, ::-1]))
          for rows in range(-limit, limit + 1)
          for cols in range(-limit, limit + 1)}


def test_fashion_mnist_augmentation_flips_and_moves_whole_pixels():
  """Clothes are mirrored and moved by up to 2 whole pixels, never rotated,
  scaled or resampled: each augmented image is one of those 50, exactly."""
  image = np.random.RandomState(0).rand(28, 28).astype(np.float32)
  image[:, :6] = 0  # asymmetric, so that a mirror is told apart
  candidates = _flips_and_moves(image)
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    out = augmentation.augmented(
        Recipe(dataset='fashion_mnist', augment=True),
        tf.constant(np.tile(image.reshape(1, 784), (200, 1))))
    with tf.Session() as sess:
      out = sess.run(out)
  seen = set()
  for augmented in out.reshape(-1, 28, 28):
    found = [key for key, value in candidates.items()
             if np.allclose(augmented, value, atol=1e-6)]
    assert found, 'an augmented image is not a mirror or whole-pixel move'
    seen.update(found)
  # Every mirror-and-move is drawn: 200 draws of 50 equally likely ones.
  assert len(seen) >= 45, sorted(seen)


def test_label_smoothing_is_the_loss_against_smoothed_targets():
  """0.1: the label gets 0.91 of the target, every other class 0.01; 0 keeps
  the original's loss."""
  logits = np.random.RandomState(0).randn(10, 10).astype(np.float32) * 3
  labels = np.eye(10, dtype=np.float32)[np.arange(10)]
  for smoothing in (0.0, 0.1):
    with tf.Graph().as_default(), tf.Session() as sess:
      loss = sess.run(res_mnist_inference.loss(logits, labels, smoothing))
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    targets = labels * (1 - smoothing) + smoothing / 10
    np.testing.assert_allclose(loss, -(targets * log_p).sum(1).mean(),
                               rtol=1e-5)


def test_cosine_schedule():
  recipe = Recipe(lr_schedule='cosine', learning_rate=0.01, warmup_steps=10,
                  max_steps=110)
  with tf.Graph().as_default():
    step = tf.placeholder(tf.int64, [])
    rate = optimization.configure_learning_rate(recipe, step)
    with tf.Session() as sess:
      values = [sess.run(rate, {step: s}) for s in (0, 4, 9, 10, 60, 110)]
  np.testing.assert_allclose(values, [0.001, 0.005, 0.01, 0.01, 0.005, 0.0],
                             atol=1e-7)


def test_exponential_schedule_is_the_original():
  with tf.Graph().as_default():
    step = tf.placeholder(tf.int64, [])
    rate = optimization.configure_learning_rate(Recipe(), step)
    with tf.Session() as sess:
      values = [sess.run(rate, {step: s}) for s in (0, 200, 500)]
  np.testing.assert_allclose(values, [0.003, 0.003 * 0.97, 0.003 * 0.97 ** 2.5],
                             rtol=1e-6)


@pytest.mark.slow
def test_train_op_returns_the_new_step_and_keeps_reads_consistent(tmp_path,
                                                                 capsys):
  """GATE_NONE lets Adam update a weight while the backward pass may still
  read it; only resource variables make that safe (the gradient then sees
  the value the forward pass read), so every variable must be one."""
  kinds, ops = in_training_graph(Recipe(), tmp_path / 'graph', lambda _: (
      {type(v).__name__ for v in tf.global_variables()},
      {op.type for op in tf.get_default_graph().get_operations()}))
  assert kinds == {'ResourceVariable'}
  assert 'VariableV2' not in ops and 'ApplyAdam' not in ops
  capsys.readouterr()
  train_here(Recipe(max_steps=3, batch_size=10), tmp_path / 'run', log_every=1)
  # The loop logs the step the train op returned: each new step, once.
  assert sorted(logged_losses(capsys.readouterr().out)) == [1, 2, 3]
  assert tf.train.load_variable(str(tmp_path / 'run' / 'my_model-3'),
                                'global_step') == 3


def test_cut_out_zeroes_one_clipped_square():
  images = np.ones((64, 784), np.float32)
  with tf.Graph().as_default():
    out = augmentation.cut_out(tf.constant(images), 8, seed=1)
    with tf.Session() as sess:
      value = sess.run(out).reshape(64, 28, 28)
  sizes = set()
  for image in value:
    rows, cols = np.nonzero(image == 0)
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    # One rectangle of zeros: 8 x 8, or less where it leaves the image.
    assert len(rows) == height * width
    assert 4 <= height <= 8 and 4 <= width <= 8
    assert set(np.unique(image)) == {0.0, 1.0}
    sizes.add((height, width))
  assert (8, 8) in sizes and len(sizes) > 1


def _weights(path, suffix=''):
  """The trainable weights of checkpoint `path` (or their `suffix`ed
  averages), by weight name."""
  reader = tf.train.load_checkpoint(path)
  return {name[:len(name) - len(suffix)]: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if name.endswith(suffix) and '/Adam' not in name
          and name.endswith(('weights' + suffix, 'biases' + suffix))}


@pytest.mark.slow
def test_moving_averages_of_the_weights_are_saved_and_evaluated(tmp_path):
  """After one step the average is d * w0 + (1 - d) * w1, d = min(0.9,
  (1 + 1) / (10 + 1)); the evaluation graph restores it in place of the
  weight, unless asked for the weights themselves."""
  from nets import models
  train_here(Recipe(net='lenet5', moving_average_decay=0.9, seed=1,
                    max_steps=1, batch_size=10), tmp_path)
  path = str(tmp_path / 'my_model-1')
  before, after = _weights(str(tmp_path / 'my_model-0')), _weights(path)
  decay = 2.0 / 11
  for name in before:
    average = tf.train.load_variable(path, name + '/ExponentialMovingAverage')
    np.testing.assert_allclose(
        average, decay * before[name] + (1 - decay) * after[name], atol=1e-6)
    assert not np.allclose(average, after[name])
  for averaged, expected in ((True, 'average'), (False, 'weight')):
    with models.load_model(str(tmp_path), averaged=averaged) as model:
      with model.graph.as_default():
        restored = model.session.run(
            {v.op.name: v for v in tf.trainable_variables()})
    for name in before:
      stored = tf.train.load_variable(
          path, name + ('/ExponentialMovingAverage'
                        if expected == 'average' else ''))
      np.testing.assert_array_equal(restored[name], stored)


def test_random_erasing_puts_one_rectangle_of_noise_or_none():
  """Images of 2.0 (above the noise's [0, 1)): the pixels below 1 are the
  erased ones, one rectangle of 2-40% of the image (up to rounding and the
  cut at the border); with probability 0.5 about half the images."""
  images = np.full((400, 784), 2.0, np.float32)
  with tf.Graph().as_default():
    tf.set_random_seed(1)  # each draw of its own (one op seed would repeat)
    erase = {p: augmentation.random_erase(images, p) for p in (1.0, 0.5)}
    with tf.Session() as sess:
      erased = sess.run(erase)
  for image in erased[1.0].reshape(-1, 28, 28):
    rows, cols = np.nonzero(image < 1)
    height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
    assert len(rows) == height * width  # a full rectangle
    assert 0.01 * 784 <= height * width <= 0.45 * 784
    assert np.all((image < 1) | (image == 2.0))
  touched = np.any(erased[0.5] < 1, axis=1).mean()
  assert 0.4 < touched < 0.6


def test_precise_batch_norm_does_not_go_with_moving_averages():
  """Its statistics would be of the weights, and their averages are
  evaluated."""
  from nets import models
  from resmnist import trainer
  from resmnist.recipe import LoopSettings, SettingError
  recipe = Recipe(batch_norm=True, precise_batch_norm=10,
                  moving_average_decay=0.99)
  with pytest.raises(SettingError, match='does not go with'):
    trainer.check(recipe, LoopSettings(), models.describe(recipe))


@pytest.mark.slow
def test_swa_holds_the_rate_and_averages_the_weights_equally(tmp_path):
  """--swa_start=0.5 of 4 steps: the rate stops moving after step 2, and the
  average is the plain mean of the weights after steps 3 and 4."""
  recipe = Recipe(net='lenet5', lr_schedule='cosine', max_steps=4,
                  swa_start=0.5, seed=1, batch_size=10)
  with tf.Graph().as_default():
    step = tf.placeholder(tf.int64, [])
    rate = optimization.configure_learning_rate(recipe, step)
    with tf.Session() as sess:
      rates = [sess.run(rate, {step: s}) for s in range(4)]
  assert rates[0] > rates[1] > rates[2] == rates[3] > 0
  train_here(recipe, tmp_path, save_every=1, max_to_keep=10)
  after = {s: _weights(str(tmp_path / ('my_model-%d' % s))) for s in (3, 4)}
  averaged = _weights(str(tmp_path / 'my_model-4'), '/ExponentialMovingAverage')
  assert sorted(averaged) == sorted(after[4]) and len(averaged) == 10
  for name in averaged:
    np.testing.assert_allclose(
        averaged[name], (after[3][name] + after[4][name]) / 2, atol=1e-6)
    assert not np.allclose(averaged[name], after[4][name])


def test_swa_goes_with_no_other_average_nor_batch_norm():
  from nets import models
  from resmnist import trainer
  from resmnist.recipe import LoopSettings, SettingError
  for recipe, message in (
      (Recipe(swa_start=0.7, moving_average_decay=0.99), 'use one of them'),
      (Recipe(swa_start=0.7, batch_norm=True), 'without batch norm')):
    with pytest.raises(SettingError, match=message):
      trainer.check(recipe, LoopSettings(), models.describe(recipe))


def test_elastic_distortion_bends_digits_repeatably():
  """A field scaled by 8 moves ink a little and keeps it (not a shift of
  the whole image: the correlation stays high); a graph seed repeats it,
  each step draws another field."""
  from conftest import synthetic_digits
  images = synthetic_digits(50, seed=0)[0].reshape(50, 784) / 255.0

  def distorted(graph_seed, alpha):
    with tf.Graph().as_default():
      tf.set_random_seed(graph_seed)
      bent = augmentation.elastic_distort(tf.constant(images, tf.float32), alpha)
      with tf.Session() as sess:
        return sess.run(bent), sess.run(bent)

  first, second = distorted(1, 8.0)
  np.testing.assert_array_equal(first, distorted(1, 8.0)[0])
  assert not np.allclose(first, second)
  assert first.shape == images.shape and first.dtype == np.float32
  assert first.min() >= 0 and first.max() <= 1
  correlation = [np.corrcoef(a, b)[0, 1] for a, b in zip(images, first)]
  assert 0.7 < np.mean(correlation) < 0.995
  # Some falls off the border: these fake digits' squares touch it.
  assert abs(first.sum() / images.sum() - 1) < 0.12
  assert np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(
      images, distorted(1, 34.0)[0])]) < np.mean(correlation)
