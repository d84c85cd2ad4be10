"""res_mnist_export.py: the SavedModel, loaded in plain TF2."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_script, tf
from res_mnist_inference import inference

# Each test runs the scripts for real: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow


LOAD_IN_TF2 = '''
import json, sys
import numpy as np
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
images = np.load(sys.argv[2])
flat = model.signatures['serving_default'](images=tf.constant(images))
square = model.signatures['images_28x28'](
    images_28x28=tf.constant(images.reshape(-1, 28, 28, 1)))
print(json.dumps({'classes': flat['classes'].numpy().tolist(),
                  'square': square['classes'].numpy().tolist(),
                  'probabilities': flat['probabilities'].numpy().tolist()}))
'''


def test_export_round_trip_in_plain_tf2(small_model, tmp_path):
  import json
  export_dir = str(tmp_path / 'export')
  result = run_script('res_mnist_export.py', '--model_dir=' + small_model,
                      '--export_dir=' + export_dir, fresh=True)
  assert result.returncode == 0, result.stderr
  assert os.listdir(export_dir) == ['20']  # versioned by global step
  images = np.random.RandomState(0).rand(16, 784).astype(np.float32)
  np.save(tmp_path / 'images.npy', images)
  loaded = subprocess.run(
      [sys.executable, '-c', LOAD_IN_TF2, os.path.join(export_dir, '20'),
       str(tmp_path / 'images.npy')], capture_output=True, text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'), timeout=300)
  assert loaded.returncode == 0, loaded.stderr
  out = json.loads(loaded.stdout.strip().splitlines()[-1])
  # The probabilities are calibrated: the logits divided by the temperature
  # that training fitted, which the export's metadata names.
  with open(os.path.join(small_model, 'model.json')) as f:
    temperature = json.load(f)['temperature']
  with open(os.path.join(export_dir, '20', 'assets.extra',
                         'model.json')) as f:
    assert json.load(f)['temperature'] == temperature > 0
  with tf.Graph().as_default() as graph:
    x = tf.placeholder(tf.float32, [None, 784])
    probabilities = tf.nn.softmax(inference(x) / temperature)
    saver = tf.train.Saver()
    with tf.Session(graph=graph) as sess:
      saver.restore(sess, tf.train.latest_checkpoint(small_model))
      expected = sess.run(probabilities, {x: images})
  np.testing.assert_allclose(out['probabilities'], expected, rtol=1e-4, atol=1e-5)
  assert out['classes'] == expected.argmax(1).tolist() == out['square']

  again = run_script('res_mnist_export.py', '--model_dir=' + small_model,
                     '--export_dir=' + export_dir)
  assert again.returncode == 1
  assert 'already exists' in again.stderr
