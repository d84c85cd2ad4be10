"""res_mnist_serve.py: TF Serving's REST API (the same answers as the
SavedModel's own signature), the photo route, bad requests, load, Ctrl-C."""
import concurrent.futures
import http.client
import json
import signal
import socket
import struct
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest

from conftest import (MNIST_DIR, Process, encode_image, needs_mnist,
                      run_script, tf)
from resmnist import input_data
from test_photo import _number, _photo

# Each test runs the server for real: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow


def start(model_dir, *args, server=None, fresh=False):
  """A res_mnist_serve.py on a free port (or `server`, one started with
  `launch`, once it is up): (Process, base URL)."""
  server = server or launch(model_dir, *args, fresh=fresh)
  try:
    match = server.wait_for(r'^Serving .* at (http://127\.0\.0\.1:\d+/)')
  except AssertionError:
    server.popen.kill()
    raise
  return server, match.group(1)


def launch(model_dir, *args, fresh=False):
  """A res_mnist_serve.py starting on a free port: its Process."""
  return Process('res_mnist_serve.py', '--model_dir=' + model_dir, '--port=0',
                 *args, fresh=fresh)


def stop(server):
  """Ctrl-C; the server's (status, stderr)."""
  server.popen.send_signal(signal.SIGINT)
  return server.popen.wait(timeout=60), server.errors


def call(url, body=None, method=None):
  """(HTTP status, parsed JSON answer) of a request."""
  data = body if body is None or isinstance(body, bytes) else json.dumps(
      body).encode()
  request = urllib.request.Request(url, data, method=method)
  try:
    with urllib.request.urlopen(request, timeout=60) as response:
      return response.status, json.loads(response.read())
  except urllib.error.HTTPError as e:
    return e.code, json.loads(e.read())


@pytest.fixture(scope='module')
def served(real_run, tmp_path_factory):
  """The real model served twice, as a checkpoint and as its SavedModel:
  (checkpoint URL, SavedModel URL, SavedModel path)."""
  export_dir = str(tmp_path_factory.mktemp('export'))
  result = run_script('res_mnist_export.py', '--model_dir=' + real_run[0],
                      '--export_dir=' + export_dir)
  assert result.returncode == 0, result.stderr
  launched = [launch(real_run[0]), launch(export_dir)]  # both start at once
  try:
    urls = [start(None, server=server)[1] for server in launched]
    yield urls[0], urls[1], export_dir + '/300'
  finally:
    for server in launched:
      stop(server)


@needs_mnist
def test_tf_serving_answers(served):
  checkpoint_url, saved_model_url, saved_model = served
  test = input_data.read_data_sets(MNIST_DIR, validation_size=0).test
  images, labels = test.images[:8], test.labels[:8].argmax(1)
  # What TF Serving computes: the SavedModel's signature, in a session.
  with tf.Graph().as_default(), tf.Session() as sess:
    signature = tf.saved_model.loader.load(
        sess, ['serve'], saved_model).signature_def['serving_default']
    expected = sess.run(
        {key: value.name for key, value in signature.outputs.items()},
        {signature.inputs['images'].name: images})
  for url in (checkpoint_url, saved_model_url):
    assert call(url + 'v1/models/mnist') == (200, {'model_version_status': [{
        'version': '300', 'state': 'AVAILABLE',
        'status': {'error_code': 'OK', 'error_message': ''}}]})
    status, rows = call(url + 'v1/models/mnist:predict',
                        {'instances': images.tolist()})
    assert status == 200 and len(rows['predictions']) == 8
    assert [p['classes'] for p in rows['predictions']] == (
        expected['classes'].tolist())
    np.testing.assert_allclose(
        [p['probabilities'] for p in rows['predictions']],
        expected['probabilities'], atol=1e-5)
    assert np.mean(expected['classes'] == labels) >= 0.75
    # The columnar form, named inputs, the 28x28 signature, a version.
    status, columns = call(url + 'v1/models/mnist/versions/300:predict', {
        'signature_name': 'images_28x28',
        'inputs': {'images_28x28': images.reshape(-1, 28, 28, 1).tolist()}})
    assert status == 200 and columns['outputs']['classes'] == (
        expected['classes'].tolist())
    status, metadata = call(url + 'v1/models/mnist/metadata')
    inputs = metadata['metadata']['signature_def']['signature_def'][
        'serving_default']['inputs']
    assert status == 200 and inputs['images']['tensor_shape']['dim'] == [
        {'size': '-1', 'name': ''}, {'size': '784', 'name': ''}]


def _png_header(width, height):
  """The start of a PNG of width x height grey pixels: its header, and
  the first rows."""
  def chunk(kind, data):
    return (struct.pack('>I', len(data)) + kind + data
            + struct.pack('>I', zlib.crc32(kind + data)))
  rows = zlib.compress(b'\0' * (width + 1) * 4)
  return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack(
      '>IIBBBBB', width, height, 8, 0, 0, 0, 0)) + chunk(b'IDAT', rows))


def _refused_unread(url, length):
  """(status, answer) of a POST that announces `length` bytes and sends 64
  KB of them: the answer comes before the rest is sent."""
  host, port = url.split('//')[1].rstrip('/').split(':')
  with socket.create_connection((host, int(port)), timeout=30) as sock:
    sock.sendall(b'POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n'
                 b'\r\n' % length + b'\0' * 65536)
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, json.loads(response.read())


@needs_mnist
def test_bad_requests_get_4xx_and_it_goes_on(served):
  url = served[0]
  png = encode_image(np.full((40, 40, 1), 255, np.uint8), 'png')
  bad = [
      ('read', b'not an image at all', 400, 'not an image'),
      ('read', b'', 400, 'empty file'),
      ('read', encode_image(_photo(_number('41', 40, 0.3)[0]), 'png')[:300],
       400, 'cannot decode'),
      ('read', png, 400, 'no digit found'),
      ('read', _png_header(40000, 40000), 400, 'the image is too large'),
      ('read', _png_header(10000, 6000), 400, 'too large (10000 x 6000 pixels'),
      ('v1/models/mnist:predict', b'{"instances": [', 400, 'not JSON'),
      ('v1/models/mnist:predict', {'instances': [[0.5] * 783]}, 400,
       "shape [1, 783]; the signature takes ['N', 784]"),
      ('v1/models/mnist:predict', {'instances': [[0.5] * 784, [0.5]]}, 400,
       'every instance of the same shape'),
      ('v1/models/mnist:predict', {'instances': [['a'] * 784]}, 400,
       'list of numbers'),
      ('v1/models/mnist:predict', {'inputs': [[0.5] * 784],
                                   'signature_name': 'nope'}, 400, 'nope'),
      ('v1/models/mnist:predict', [1, 2], 400, 'JSON object'),
      ('v1/models/other:predict', {'instances': [[0.5] * 784]}, 404,
       'Servable not found'),
      ('v1/models/mnist:classify', {'instances': [[0.5] * 784]}, 404,
       'no such verb'),
  ]
  for route, body, code, message in bad:
    status, answer = call(url + route, body, method='POST')
    assert (status, list(answer)) == (code, ['error']), (route, answer)
    assert message in answer['error'] and '\n' not in answer['error']
  assert _refused_unread(url, 50 * 10**6) == (413, {
      'error': 'the request body is over 20 MB (--max_body_mb)'})
  assert call(url + 'v1/models/mnist')[0] == 200  # still serving


@needs_mnist
def test_a_photo_of_a_number(served):
  number = _photo(_number('417', 48, 0.3)[0], light='gradient',
                  paper=(0.95, 0.92, 0.8), ink_colour=(0.1, 0.1, 0.4))
  for tta in ('1', '0'):
    status, answer = call(served[0] + 'read?tta=' + tta,
                          encode_image(number, 'jpeg'))
    assert status == 200 and answer['text'] == '417', answer['text']
    assert answer['tta'] == (tta == '1') and not answer['unsure']
    assert [len(d['probabilities']) for d in answer['digits']] == [10] * 3
    assert answer['boxes'].startswith('data:image/png;base64,')


@needs_mnist
def test_8_clients_100_requests_each(served):
  test = input_data.read_data_sets(MNIST_DIR, validation_size=0).test
  url = served[0] + 'v1/models/mnist:predict'

  def client(first):
    return [call(url, {'instances': [test.images[first + i].tolist()]})[0]
            for i in range(100)]

  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    statuses = sum(pool.map(client, range(0, 800, 100)), [])
  assert statuses == [200] * 800


def test_ctrl_c_stops_it_cleanly(small_model, small_data):
  # Started as a user starts it; its report from 200 synthetic test images.
  server, url = start(small_model, '--data_dir=' + small_data,
                      '--nocheck_sha256', fresh=True)
  try:
    assert call(url + 'about')[1]['version'] == '20'
  finally:
    status, errors = stop(server)
  assert (status, errors) == (0, '') and server.output.endswith('Stopped.\n')


def test_a_port_in_use_is_one_line(small_model):
  with socket.socket() as sock:
    sock.bind(('127.0.0.1', 0))
    sock.listen()
    result = run_script('res_mnist_serve.py', '--model_dir=' + small_model,
                        '--port=%d' % sock.getsockname()[1])
  assert result.returncode == 1 and result.stderr.startswith(
      'res_mnist_serve.py: error: cannot listen on 127.0.0.1:')
  assert len(result.stderr.splitlines()) == 1
