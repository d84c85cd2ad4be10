"""Batch norm, augmentation, schedules and presets of res_mnist.py."""
import json
import os
import re

import numpy as np
import pytest

from conftest import SMALL, SMALL_RUN, run_script, tf
from res_mnist_inference import inference
from resmnist import runtime
from resmnist import training
from resmnist.recipe import Recipe


def test_batch_norm_eval_uses_moving_averages():
  """In eval mode an image's logits do not depend on the rest of its batch."""
  with tf.Graph().as_default():
    x = tf.placeholder(tf.float32, [None, 784])
    logits = inference(x, batch_norm=True)
    moving_means = [v for v in tf.global_variables() if 'moving_mean' in v.name]
    images = np.random.RandomState(0).rand(6, 784)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      alone = sess.run(logits, {x: images[:1]})
      together = sess.run(logits, {x: images})[:1]
      np.testing.assert_allclose(alone, together, rtol=1e-5, atol=1e-5)
      sess.run([v.assign(v + 0.5) for v in moving_means])
      assert not np.allclose(sess.run(logits, {x: images[:1]}), alone)


def test_batch_norm_training_uses_batch_statistics():
  """In training mode the stem's batch norm centres each channel on the batch."""
  with tf.Graph().as_default():
    x = tf.placeholder(tf.float32, [None, 784])
    inference(x, is_training=True, batch_norm=True)
    normalized = tf.get_default_graph().get_tensor_by_name(
        'Conv/BatchNorm/FusedBatchNormV3:0')
    images = np.random.RandomState(0).rand(6, 784) * 5 + 3
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      value = sess.run(normalized, {x: images})
  np.testing.assert_allclose(value.mean(axis=(0, 1, 2)), 0, atol=1e-4)
  np.testing.assert_allclose(value.var(axis=(0, 1, 2)), 1, atol=0.05)


def _checkpoint_values(path, suffix):
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if name.endswith(suffix)}


def test_batch_norm_run_updates_moving_averages(small_data, tmp_path):
  model_dir = str(tmp_path / 'bn')
  result = run_script('res_mnist.py', '--data_dir=' + small_data,
                      '--model_dir=' + model_dir, '--batch_norm',
                      '--max_steps=40', '--eval_every=20', '--report_test',
                      *SMALL_RUN)
  assert result.returncode == 0, result.stderr
  means = _checkpoint_values(model_dir + '/my_model-40', 'moving_mean')
  variances = _checkpoint_values(model_dir + '/my_model-40', 'moving_variance')
  assert len(means) == len(variances) == 14
  assert all(np.abs(m).max() > 0 for m in means.values())  # they start at 0
  assert all(not np.allclose(v, 1) for v in variances.values())  # and at 1
  assert re.search(r'^validation accuracy \S+ at step 20 \(best so far\), '
                   r'0:00:\d\d of training$',
                   result.stdout, re.M)
  assert re.search(r'^test accuracy \S+ at step 40 \(reported only\)$',
                   result.stdout, re.M)
  assert 'best validation checkpoint %s/best/my_model-' % model_dir in result.stdout

  evaluated = run_script('res_mnist_eval.py', '--data_dir=' + small_data,
                         '--model_dir=' + model_dir, '--nocheck_sha256')
  assert evaluated.returncode == 0, evaluated.stderr
  final = re.search(r'^test accuracy (\S+)$', result.stdout, re.M).group(1)
  assert 'test accuracy %s' % final in evaluated.stdout

  wrong = run_script('res_mnist.py', '--data_dir=' + small_data,
                     '--model_dir=' + model_dir, '--max_steps=60', *SMALL_RUN)
  assert wrong.returncode == 1
  lines = wrong.stderr.strip().splitlines()
  assert len(lines) == 1, wrong.stderr
  assert re.match(r'res_mnist.py: error: .*/my_model-40: checkpoint of another '
                  r'graph, it has no variable \S+; it was trained with '
                  r'--batch_norm$', lines[0])


def test_precise_batch_norm_recomputes_only_the_moving_averages(small_data,
                                                                 tmp_path):
  """--precise_batch_norm: same weights as without it, other moving averages,
  and the final checkpoint (what validation and evaluation see) holds them."""
  checkpoints = {}
  for batches in (0, 30):
    model_dir = str(tmp_path / str(batches))
    result = run_script('res_mnist.py', '--data_dir=' + small_data,
                        '--model_dir=' + model_dir, '--batch_norm',
                        '--max_steps=20', '--learning_rate=0.01',
                        '--lr_schedule=constant', '--eval_every=20',
                        '--augment', '--cutout=4',  # fed past them
                        '--precise_batch_norm=%d' % batches, *SMALL_RUN)
    assert result.returncode == 0, result.stderr
    recomputed = re.findall(r"^batch norm's moving averages recomputed over "
                            r"(\d+) training batches with the weights of step "
                            r"20 \(\S+ s\)$", result.stdout, re.M)
    assert recomputed == ([str(batches)] if batches else []), result.stdout
    checkpoints[batches] = tf.train.load_checkpoint(model_dir + '/my_model-20')
    with open(os.path.join(model_dir, 'model.json')) as f:
      assert json.load(f)['recipe']['precise_batch_norm'] == batches
  names = checkpoints[0].get_variable_to_shape_map()
  averages = [n for n in names if n.endswith(('moving_mean', 'moving_variance'))]
  weights = [n for n in names if '/' in n and n not in averages
             and 'Adam' not in n]
  assert len(averages) == 28 and len(weights) > 28
  for name in weights:  # the same seed trained the same weights
    np.testing.assert_allclose(checkpoints[30].get_tensor(name),
                               checkpoints[0].get_tensor(name), rtol=1e-5,
                               atol=1e-6, err_msg=name)
  changed = [n for n in averages if not np.allclose(
      checkpoints[30].get_tensor(n), checkpoints[0].get_tensor(n), rtol=1e-3)]
  assert len(changed) == len(averages)

  no_batch_norm = run_script('res_mnist.py', '--data_dir=' + small_data,
                             '--model_dir=' + str(tmp_path / 'none'),
                             '--precise_batch_norm=10', *SMALL_RUN)
  assert no_batch_norm.returncode == 1
  assert no_batch_norm.stderr.strip() == (
      'res_mnist.py: error: --precise_batch_norm=10 needs batch norm '
      '(--batch_norm, or a network that has it); --net=resnet has none')


def test_preset_best_with_overrides(small_data, tmp_path):
  model_dir = str(tmp_path / 'best')
  result = run_script('res_mnist.py', '--preset=best', '--epochs=0.2',
                      '--data_dir=' + small_data, '--model_dir=' + model_dir,
                      '--nocheck_sha256', '--validation_size=100',
                      '--eval_every=1', '--log_every=1', '--nobfloat16',
                      '--cutout=6')
  assert result.returncode == 0, result.stderr
  with open(os.path.join(model_dir, 'model.json')) as f:
    assert json.load(f)['recipe']['cutout'] == 6
  # 0.2 epochs of 500 images at the default batch of 100: one step.
  assert re.findall(r'^training step (\d+),', result.stdout, re.M) == ['1']
  assert os.path.exists(os.path.join(model_dir, 'best', 'checkpoint'))
  # The preset is --fast: one tower (batch norm), bf16 as given.
  assert re.search(r'^--fast on .+: --towers=1 --nobfloat16 \(bfloat16: .+; '
                   r'1 tower: the network has batch norm\)$', result.stdout,
                   re.M), result.stdout


def test_preset_fast(small_data, tmp_path):
  model_dir = str(tmp_path / 'fast')
  result = run_script('res_mnist.py', '--preset=fast', '--data_dir=' + small_data,
                      '--model_dir=' + model_dir, '--nocheck_sha256',
                      '--validation_size=100', '--log_every=1', '--nobfloat16')
  assert result.returncode == 0, result.stderr
  # 0.65 epoch of 500 training images at batch 100: 4 steps (3.25 rounded up).
  assert re.findall(r'^training step (\d+),', result.stdout, re.M) == [
      '1', '2', '3', '4']
  with open(os.path.join(model_dir, 'model.json')) as f:
    recipe = json.load(f)['recipe']
  assert {key: recipe[key] for key in (
      'augment', 'lr_schedule', 'learning_rate', 'warmup_steps',
      'weight_decay', 'label_smoothing', 'batch_size', 'max_steps',
      'bfloat16')} == {
          'augment': True, 'lr_schedule': 'cosine', 'learning_rate': 0.005,
          'warmup_steps': 30, 'weight_decay': 5e-5, 'label_smoothing': 0.1,
          'batch_size': 100, 'max_steps': 4, 'bfloat16': False}
  # --fast: one tower per core (no batch norm here).
  assert recipe['towers'] == runtime.num_cores()
  assert re.search(r'^--fast on .+: --towers=%d --nobfloat16 ' % recipe['towers'],
                   result.stdout, re.M), result.stdout


def test_distort_images_identity_and_shift():
  images = np.zeros((2, 28, 28), np.float32)
  images[:, 10:14, 12:16] = 1.0
  with tf.Graph().as_default():
    still = dict(max_rotation_degrees=0.0, max_scale_change=0.0)
    same = training.distort_images(tf.constant(images.reshape(2, 784)),
                                   max_shift_pixels=0.0, **still)
    shifted = training.distort_images(tf.constant(images.reshape(2, 784)),
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
    out = training.distort_images(tf.constant(images), seed=1)
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
    flipped = training.distort_images(tf.constant(images.reshape(64, 784)),
                                      seed=1, flip=True, **still)
    with tf.Session() as sess:
      out = sess.run(flipped).reshape(64, 28, 28)
  mirrored = np.isclose(out, images[:, :, ::-1], atol=1e-6).all(axis=(1, 2))
  kept = np.isclose(out, images, atol=1e-6).all(axis=(1, 2))
  assert (mirrored | kept).all()
  assert 16 <= mirrored.sum() <= 48  # about half, each image on its own


def test_only_fashion_mnist_graphs_flip():
  for dataset, flips in (('mnist', False), ('fashion_mnist', True)):
    with tf.Graph().as_default() as graph:
      training.build_training_graph(Recipe(net='lenet5', dataset=dataset,
                                           augment=True))
      ops = [op.type for op in graph.get_operations()]
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
    graph = training.build_training_graph(
        Recipe(net='lenet5', dataset='fashion_mnist', augment=True, seed=1))
    with tf.Session() as sess:
      out = sess.run(graph.network_input,
                     {graph.images: np.tile(image.reshape(1, 784), (200, 1))})
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
  # Large inputs, so that the logits are far from uniform at initialisation.
  images = np.random.RandomState(0).rand(10, 784) * 30
  labels = np.eye(10)[np.arange(10)]
  for smoothing in (0.0, 0.1):
    with tf.Graph().as_default():
      graph = training.build_training_graph(
          Recipe(net='lenet5', label_smoothing=smoothing, seed=1))
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        logits, loss = sess.run([graph.logits, graph.cross_entropy],
                                {graph.images: images, graph.labels: labels})
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    targets = labels * (1 - smoothing) + smoothing / 10
    np.testing.assert_allclose(loss, -(targets * log_p).sum(1).mean(),
                               rtol=1e-5)


def test_cosine_schedule():
  recipe = Recipe(lr_schedule='cosine', learning_rate=0.01, warmup_steps=10,
                  max_steps=110)
  with tf.Graph().as_default():
    step = tf.placeholder(tf.int64, [])
    rate = training.configure_learning_rate(recipe, step)
    with tf.Session() as sess:
      values = [sess.run(rate, {step: s}) for s in (0, 4, 9, 10, 60, 110)]
  np.testing.assert_allclose(values, [0.001, 0.005, 0.01, 0.01, 0.005, 0.0],
                             atol=1e-7)


def test_exponential_schedule_is_the_original():
  with tf.Graph().as_default():
    step = tf.placeholder(tf.int64, [])
    rate = training.configure_learning_rate(Recipe(), step)
    with tf.Session() as sess:
      values = [sess.run(rate, {step: s}) for s in (0, 200, 500)]
  np.testing.assert_allclose(values, [0.003, 0.003 * 0.97, 0.003 * 0.97 ** 2.5],
                             rtol=1e-6)


def test_train_op_returns_the_new_step_and_keeps_reads_consistent():
  """GATE_NONE lets Adam update a weight while the backward pass may still
  read it; only resource variables make that safe (the gradient then sees
  the value the forward pass read), so every variable must be one."""
  with tf.Graph().as_default():
    graph = training.build_training_graph(Recipe())
    assert {type(v).__name__ for v in tf.global_variables()} == {
        'ResourceVariable'}
    ops = [op.type for op in tf.get_default_graph().get_operations()]
    assert 'VariableV2' not in ops and 'ApplyAdam' not in ops
    images = np.random.RandomState(0).rand(10, 784)
    labels = np.eye(10)[np.arange(10)]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      steps = [sess.run(graph.train_op, {graph.images: images,
                                         graph.labels: labels})
               for _ in range(3)]
      assert steps == [1, 2, 3]
      assert sess.run(graph.global_step) == 3


def test_training_curves_png(small_data, tmp_path):
  model_dir = str(tmp_path / 'model')
  result = run_script('res_mnist.py', '--data_dir=' + small_data,
                      '--model_dir=' + model_dir, '--max_steps=40',
                      '--eval_every=20', *SMALL_RUN)
  assert result.returncode == 0, result.stderr
  plotted = run_script('res_mnist_plot.py', '--model_dir=' + model_dir)
  assert plotted.returncode == 0, plotted.stderr
  assert plotted.stdout.strip() == ('Wrote %s/training_curves.png (2 training '
                                    'points, 2 validation points)' % model_dir)
  with open(os.path.join(model_dir, 'training_curves.png'), 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  empty = run_script('res_mnist_plot.py', '--model_dir=%s' % tmp_path)
  assert empty.returncode == 1
  assert 'no training summaries found' in empty.stderr


def test_training_clock_leaves_out_start_up_and_evaluations(monkeypatch):
  now = [100.0]
  monkeypatch.setattr(training.time, 'time', lambda: now[0])
  clock = training.TrainingClock()
  now[0] += 5  # building the session: not training
  assert clock.elapsed() == 0.0
  clock.start()  # the first step
  now[0] += 3
  with clock.paused():  # an evaluation
    now[0] += 10
  now[0] += 2
  clock.start()  # later steps do not restart it
  assert clock.elapsed() == 5.0


def test_cut_out_zeroes_one_clipped_square():
  images = np.ones((64, 784), np.float32)
  with tf.Graph().as_default():
    out = training.cut_out(tf.constant(images), 8, seed=1)
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
