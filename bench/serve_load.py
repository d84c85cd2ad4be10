"""How res_mnist_serve.py holds up under load: many clients at once.

    python bench/serve_load.py --model_dir=model      # about a minute

It starts the server on a free port of 127.0.0.1, then `--clients` threads
each send `--requests` requests, one after the other, as fast as they are
answered: TF Serving predict requests of one MNIST test image, then, again,
the page's photo route with a photo of a number. Printed for each: how many
were answered (and with 200), the median and 99th-percentile latency, and
the requests answered per second. The clients share the machine with the
server: on 2 cores, they take part of its time.
"""
import concurrent.futures
import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from resmnist import cli  # noqa: E402
cli.start()  # before TensorFlow loads, as the scripts do

from absl import flags  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from resmnist import common_flags  # noqa: E402
from resmnist import errors  # noqa: E402

common_flags.define_model_dir_flags()
common_flags.define_data_flags()
flags.DEFINE_integer('clients', 8, 'Clients at once.', lower_bound=1)
flags.DEFINE_integer('requests', 100, 'Requests of each client.',
                     lower_bound=1)

FLAGS = flags.FLAGS


def start_server():
  """(the server's Popen, its URL)."""
  server = subprocess.Popen(
      [sys.executable, '-u', os.path.join(ROOT, 'res_mnist_serve.py'),
       '--model_dir=' + FLAGS.model_dir, '--port=0'],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  for line in server.stdout:
    match = re.search(r'^Serving .* at (http://\S+/)', line)
    if match:
      return server, match.group(1)
  raise errors.Error('the server did not start: ' + line.strip())


def load(url, body):
  """Each client's requests: (statuses, latencies in seconds, wall time)."""
  def client(_):
    statuses, latencies = [], []
    for _ in range(FLAGS.requests):
      start = time.perf_counter()
      try:
        with urllib.request.urlopen(urllib.request.Request(url, body),
                                    timeout=120) as response:
          response.read()
          statuses.append(response.status)
      except urllib.error.HTTPError as e:
        statuses.append(e.code)
      latencies.append(time.perf_counter() - start)
    return statuses, latencies

  start = time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(FLAGS.clients) as pool:
    results = list(pool.map(client, range(FLAGS.clients)))
  wall = time.perf_counter() - start
  return (sum((r[0] for r in results), []), sum((r[1] for r in results), []),
          wall)


def report(name, statuses, latencies, wall):
  print('%-22s %d/%d answered 200; latency median %.1f ms, 99th percentile '
        '%.1f ms; %.1f requests/s' % (
            name, statuses.count(200), FLAGS.clients * FLAGS.requests,
            1e3 * np.median(latencies), 1e3 * np.percentile(latencies, 99),
            len(statuses) / wall))


def photo_of_a_number(test):
  """A JPEG of four test digits in a row, dark ink on cream paper, twice
  MNIST's size."""
  ink = np.kron(np.hstack(test.images[:4].reshape(4, 28, 28)), np.ones((2, 2)))
  ink = np.pad(ink, 24)[:, :, None]
  paper, colour = np.array([0.97, 0.93, 0.8]), np.array([0.1, 0.1, 0.4])
  pixels = np.round(255 * (paper * (1 - ink) + colour * ink)).astype(np.uint8)
  contents = io.BytesIO()
  Image.fromarray(pixels).save(contents, 'JPEG', quality=90)
  return contents.getvalue()


def main(_):
  test = common_flags.read_data(FLAGS, 'mnist', validation_size=0).test
  server, url = start_server()
  try:
    body = json.dumps({'instances': [test.images[0].tolist()]}).encode()
    report('predict (1 image)', *load(url + 'v1/models/mnist:predict', body))
    report('photo of a number', *load(url + 'read', photo_of_a_number(test)))
  finally:
    server.terminate()
    server.wait()


if __name__ == '__main__':
  cli.run(main)
