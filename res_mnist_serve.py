"""Serves a trained model: a page to draw or drop digits on, and the REST API
of TensorFlow Serving.

    python res_mnist_serve.py                  # model/, http://127.0.0.1:8501/
    python res_mnist_serve.py --model_dir=export   # a SavedModel

--model_dir is a model directory (its latest checkpoint, or --checkpoint_path)
or a SavedModel: one version, or a base path of numbered versions (the
latest is served, as TF Serving does). Routes:

  GET  /                          the page (static/): draw a digit, or drop a
                                  photo of a number, and see what is read
  POST /read                      an image file's bytes -> the digits read,
                                  their probabilities, the cleaned page with
                                  its boxes (JSON; ?tta=1 or 0 overrides --tta)
  POST /v1/models/mnist:predict   TensorFlow Serving's predict (`instances` or
                                  `inputs`), also at .../versions/N:predict
  GET  /v1/models/mnist           its model status; .../metadata: signatures
  GET  /about                     the model's name, version, network, dataset
  GET  /report                    how it reads the test set: accuracy, the
                                  confusion matrix, the misread images

The report is `<model_dir>/report/report.json` (`res_mnist_eval.py
--report=<model_dir>/report` writes it); where there is none, it is computed
when the server starts, from the test images of --data_dir, and written
there for a checkpoint's model directory (with matplotlib installed, which
draws its pictures). A line says which.

A request that cannot be answered gets a 4xx status and `{"error": "..."}`
in one line; a body over --max_body_mb is refused before it is read. It
listens on 127.0.0.1 only, unless --host says otherwise. Ctrl-C stops it.
"""
from resmnist import cli
cli.start()  # before TensorFlow loads

import base64  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402

from absl import flags  # noqa: E402
import numpy as np  # noqa: E402
from starlette import applications  # noqa: E402
from starlette import concurrency  # noqa: E402
from starlette import responses  # noqa: E402
from starlette import routing  # noqa: E402
from starlette import staticfiles  # noqa: E402
import uvicorn  # noqa: E402

from nets import models  # noqa: E402
from resmnist import common_flags  # noqa: E402
from resmnist import errors  # noqa: E402
from resmnist import input_data  # noqa: E402
from resmnist import photo  # noqa: E402
from resmnist import report  # noqa: E402
from resmnist import serving  # noqa: E402

common_flags.define_data_flags()  # the test images of the page's report
common_flags.define_model_dir_flags(checkpoint_path=True)
common_flags.define_reader_flags()
flags.DEFINE_string('host', '127.0.0.1', 'Address to listen on; 0.0.0.0 for '
                    'every interface (anyone who reaches it can use it).')
flags.DEFINE_integer('port', 8501, 'Port (TF Serving\'s REST port); 0: any '
                     'free one.', lower_bound=0, upper_bound=65535)
flags.DEFINE_string('served_model_name', 'mnist', 'The NAME of '
                    '/v1/models/NAME (TF Serving\'s --model_name).')
flags.DEFINE_float('max_body_mb', 20.0, 'Larger request bodies are refused '
                   'unread (413).', lower_bound=0.001)
flags.adopt_module_key_flags(common_flags)  # in --help

FLAGS = flags.FLAGS

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          'static')
# Everything the page uses comes from this server: it works offline.
PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; "
               "object-src 'none'; base-uri 'none'")


def error(message, status=400):
  return responses.JSONResponse({'error': str(message).splitlines()[0]},
                                status)


class BodyLimit(object):
  """ASGI middleware: a body over `limit` bytes is refused with 413, on its
  Content-Length before any of it is read, or as soon as a chunked one
  passes it."""

  def __init__(self, app, limit):
    self.app, self.limit = app, limit

  async def __call__(self, scope, receive, send):
    if scope['type'] != 'http':
      return await self.app(scope, receive, send)
    length = dict(scope['headers']).get(b'content-length')
    if length is not None and int(length) > self.limit:
      return await self._refuse(scope, receive, send)
    received = 0
    started = False

    async def counted_receive():
      nonlocal received
      message = await receive()
      received += len(message.get('body', b''))
      if received > self.limit:
        raise _TooLarge()
      return message

    async def watched_send(message):
      nonlocal started
      started = True
      await send(message)

    try:
      await self.app(scope, counted_receive, watched_send)
    except _TooLarge:
      if not started:
        await self._refuse(scope, receive, send)

  async def _refuse(self, scope, receive, send):
    await error('the request body is over %g MB (--max_body_mb)'
                % (self.limit / 1e6), 413)(scope, receive, send)


class _TooLarge(Exception):
  pass


def _png_url(reader, pixels):
  return 'data:image/png;base64,' + base64.b64encode(
      reader.png(pixels)).decode('ascii')


def read_photo(served, reader, contents, tta):
  """The answer of POST /read: what the page shows of an image file."""
  class_names = input_data.DATASETS[served.dataset].class_names

  def classify(digits):
    return served.run({'images': digits.reshape(len(digits), -1)})[
        'probabilities']

  page = reader.read(contents, photo.test_time_augmented(classify)
                     if tta else classify,
                     numbers=served.dataset == 'mnist')
  digits = []
  for probabilities, seen in zip(page.probabilities, page.digits):
    digits.append({
        'class': class_names[probabilities.argmax()],
        'sure': bool(probabilities.max() >= FLAGS.min_confidence),
        'probabilities': probabilities.round(4).tolist(),
        'seen': _png_url(reader, np.round(seen * 255).astype(np.uint8)[
            :, :, None])})
  return {'text': ''.join(d['class'] if d['sure'] else '?' for d in digits),
          'unsure': not all(d['sure'] for d in digits), 'digits': digits,
          'class_names': list(class_names), 'tta': tta,
          'boxes': _png_url(reader, photo.boxes_image(page))}


async def tf_serving(served, name, what, request):
  """TF Serving's routes: a model's `status` or `metadata` (GET), or a
  `verb` (POST `:predict`), of `served` named `name`."""
  if request.path_params['name'] != name:
    return error('Servable not found for request: Latest(%s)'
                 % request.path_params['name'], 404)
  version = request.path_params.get('version')
  if version is not None and version != served.version:
    return error('Servable not found for request: Specific(%s, %s)'
                 % (name, version), 404)
  if request.method == 'GET':
    return responses.JSONResponse(
        served.metadata(name) if what == 'metadata' else served.status())
  if request.path_params['verb'] != 'predict':
    return error('no such verb: :%s (it is :predict)'
                 % request.path_params['verb'], 404)
  try:
    body = json.loads(await request.body())
  except ValueError as e:
    return error('the body is not JSON (%s)' % e)
  try:
    return responses.JSONResponse(await concurrency.run_in_threadpool(
        served.predict, body))
  except serving.RequestError as e:
    return error(e, e.status)


def make_app(served, reader, test_report=None):
  """The Starlette application of a `serving.Served`, a `photo.Reader` and
  the served model's `test_report` (or an {'error': ...} without one)."""
  name = FLAGS.served_model_name

  async def page(request):
    return responses.FileResponse(os.path.join(STATIC_DIR, 'index.html'),
                                  headers={'Content-Security-Policy':
                                           PAGE_POLICY})

  async def about(request):
    return responses.JSONResponse({
        'name': name, 'version': served.version,
        'net': served.info.net if served.info else None,
        'dataset': served.dataset, 'tta': FLAGS.tta})

  async def show_report(request):
    answer = test_report or {'error': 'no report'}
    return responses.JSONResponse(answer, 404 if 'error' in answer else 200)

  async def read(request):
    contents = await request.body()
    tta = request.query_params.get('tta', '1' if FLAGS.tta else '0') != '0'
    try:
      return responses.JSONResponse(await concurrency.run_in_threadpool(
          read_photo, served, reader, contents, tta))
    except photo.ImageError as e:
      return error(e)

  tf_serving_path = '/v1/models/{name}'
  routes = [routing.Route('/', page),
            routing.Route('/about', about),
            routing.Route('/report', show_report),
            routing.Route('/read', read, methods=['POST']),
            routing.Mount('/static', staticfiles.StaticFiles(
                directory=STATIC_DIR))]
  for prefix in (tf_serving_path, tf_serving_path + '/versions/{version}'):
    routes += [
        routing.Route(prefix, functools.partial(tf_serving, served, name,
                                                'status')),
        routing.Route(prefix + '/metadata', functools.partial(
            tf_serving, served, name, 'metadata')),
        routing.Route(prefix + ':{verb}', functools.partial(
            tf_serving, served, name, 'verb'), methods=['POST'])]
  return applications.Starlette(routes=routes, exception_handlers={
      404: lambda request, exc: error('no such route: %s' % request.url.path,
                                      404),
      405: lambda request, exc: error('method not allowed', 405),
      500: lambda request, exc: error('internal error: %r' % exc, 500)})


def load(model_dir, checkpoint_path):
  """The `serving.Served` of --model_dir (a SavedModel or a checkpoint),
  what it is, and its readings of test images `[N, 28, 28]`: their
  probabilities before and after calibration (a SavedModel's as it gives
  them, for both)."""
  if checkpoint_path is None and serving.latest_version(model_dir):
    served = serving.from_saved_model(model_dir)

    def given(images):
      probabilities = served.run({'images': images.reshape(
          len(images), -1)})['probabilities']
      return probabilities, probabilities
    return served, 'SavedModel ' + serving.latest_version(model_dir), given
  model = models.load_model(model_dir, checkpoint_path)
  return serving.from_model(model), model.checkpoint_path, lambda images: (
      report.readings(model.logits_of, images, model.info.temperature))


def test_report(served, readings, report_dir, reader):
  """What `/report` answers, and a line that says where it comes from:
  `report_dir`'s report.json, or one computed now from the test images (and
  written to `report_dir`, where there is one and matplotlib can draw)."""
  try:
    test = common_flags.read_data(FLAGS, served.dataset, 0).test
  except errors.Error as e:
    return {'error': 'no report: %s' % e}, 'none (%s)' % e
  images = test.images.reshape(-1, input_data.IMAGE_SIZE, input_data.IMAGE_SIZE)
  numbers = report.load(report_dir) if report_dir else None
  said = 'read from %s' % os.path.join(report_dir or '', report.REPORT_FILE)
  if numbers is None:
    before, after = readings(images)
    numbers = report.compute(before, after, test.labels.argmax(axis=1),
                             input_data.DATASETS[served.dataset].class_names)
    said = 'computed on the %d test images' % len(images)
    if report_dir and report.can_draw():
      report.write(numbers, images, report_dir)
      said += ', written to %s' % report_dir
  shown = [dict(item, image=_png_url(reader, np.round(
      images[item['index']] * 255).astype(np.uint8)[:, :, None]))
           for item in numbers['shown']]
  keys = ('accuracy', 'test_images', 'class_names', 'confusion_matrix',
          'ece_before', 'ece_after')
  return dict({key: numbers[key] for key in keys}, shown=shown,
              misread=len(numbers['misread'])), said


def listening_socket(host, port):
  """A socket bound to (host, port); errors.Error if it cannot be."""
  try:
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(info[4])
    sock.listen(128)  # from now on, connections wait for the server
  except OSError as e:
    raise errors.Error('cannot listen on %s:%d (%s)'
                       % (host, port, e.strerror or e))
  return sock


def main(_):
  served, what, readings = load(FLAGS.model_dir, FLAGS.checkpoint_path)
  # The port first: a port in use is said before the report is computed.
  sock = listening_socket(FLAGS.host, FLAGS.port)
  reader = photo.Reader()
  answer, said = test_report(
      served, readings, None if what.startswith('SavedModel') else
      os.path.join(FLAGS.model_dir, 'report'), reader)
  print('Test-set report: %s' % said)
  host, port = sock.getsockname()[:2]
  server = uvicorn.Server(uvicorn.Config(
      BodyLimit(make_app(served, reader, answer), int(FLAGS.max_body_mb * 1e6)),
      log_level='warning', access_log=False, lifespan='off'))
  if not host.startswith('127.') and host != '::1':
    print('note: listening on %s: anyone who can reach this machine can '
          'use the model' % host)
  print('Serving %s (version %s) at http://%s:%d/ (Ctrl-C stops)'
        % (what, served.version, host if ':' not in host else '[%s]' % host,
           port), flush=True)
  try:
    server.run(sockets=[sock])
  except KeyboardInterrupt:  # uvicorn raises Ctrl-C's signal again once stopped
    pass
  finally:
    reader.close()
    served.close()
  print('Stopped.')


if __name__ == '__main__':
  cli.run(main)
