"""inference_in_towers and res_mnist.py --towers: same variables, same logits."""
import numpy as np
import pytest

from conftest import (in_training_graph, logged_losses, run_script, tf,
                      train_here)
from res_mnist_inference import inference, inference_in_towers
from resmnist.recipe import Recipe
from test_res_mnist_inference import EXPECTED_VARIABLES


@pytest.mark.parametrize('towers', [2, 3])
def test_towers_have_the_variables_of_one_graph(towers):
  with tf.Graph().as_default():
    inference_in_towers(tf.placeholder(tf.float32, [None, 784]), towers,
                        is_training=True, weight_decay=1e-4)
    variables = [(v.op.name, v.shape.as_list()) for v in tf.global_variables()]
    assert variables == EXPECTED_VARIABLES
    # One L2 term per weight matrix, not one per tower.
    assert len(tf.losses.get_regularization_losses()) == 16


@pytest.mark.parametrize('towers', [2, 3])
@pytest.mark.parametrize('batch', [1, 2, 7])
def test_towers_give_the_logits_of_one_graph(towers, batch):
  """Also for batches smaller than `towers` (padded: no tower is empty)."""
  with tf.Graph().as_default():
    x = tf.placeholder(tf.float32, [None, 28, 28, 1])
    reference = inference(x)
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
      split = inference_in_towers(x, towers)
    assert len(tf.global_variables()) == 32
    assert split.shape.as_list() == [None, 10]
    images = np.random.RandomState(batch).rand(batch, 28, 28, 1)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      expected, value = sess.run([reference, split], {x: images})
  assert value.shape == (batch, 10)
  np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5)


def test_towers_reject_wrong_image_size():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='784 pixels'):
      inference_in_towers(tf.zeros([2, 32, 32, 1]), 2)


@pytest.mark.slow
def test_training_with_towers_learns_and_repeats_itself(tmp_path, capsys):
  """Same seed, same losses; and the loss falls."""
  recipe = Recipe(towers=2, seed=3, batch_size=20, max_steps=15)
  assert in_training_graph(recipe, tmp_path / 'graph', lambda _: len(
      tf.trainable_variables())) == 32
  runs = []
  for run in range(2):
    capsys.readouterr()
    train_here(recipe, tmp_path / str(run), log_every=1)
    runs.append(logged_losses(capsys.readouterr().out))
  assert runs[0] == runs[1] and sorted(runs[0]) == list(range(1, 16))
  assert runs[0][15] < 0.75 * runs[0][1]


@pytest.mark.parametrize('flags', [['--batch_norm'], ['--preset=best']])
@pytest.mark.slow
def test_towers_refuse_batch_norm(small_data, tmp_path, flags):
  result = run_script('res_mnist.py', '--towers=2', *flags,
                      '--data_dir=' + small_data, '--nocheck_sha256',
                      '--model_dir=' + str(tmp_path / 'model'))
  assert result.returncode == 1
  assert result.stderr.strip() == (
      'res_mnist.py: error: --towers=2 does not go with --batch_norm (towers '
      'would race to update its moving averages); use --towers=1')
  assert not (tmp_path / 'model').exists()


def test_towers_reject_zero_towers():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='towers >= 1'):
      inference_in_towers(tf.zeros([2, 784]), 0)


def test_docstring_example_builds_one_set_of_weights():
  with tf.Graph().as_default():
    x = tf.placeholder(tf.float32, [None, 784])
    logits = inference(x)
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
      train_logits = inference(x, is_training=True)
      fast_logits = inference_in_towers(x, 2)
    assert len(tf.global_variables()) == 32
    images = np.random.RandomState(0).rand(5, 784)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      a, b, c = sess.run([logits, train_logits, fast_logits], {x: images})
  np.testing.assert_allclose(c, a, rtol=1e-5, atol=1e-5)
  assert not np.allclose(b, a)  # dropout
