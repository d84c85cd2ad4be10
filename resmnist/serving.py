"""A model answering TensorFlow Serving's REST API, without TF Serving.

    from resmnist import serving
    served = serving.from_model(model)            # a loader.EvalModel
    served = serving.from_saved_model('export')   # res_mnist_export.py's
    served.predict({'instances': [[0.0] * 784]})
    # {'predictions': [{'classes': 1, 'probabilities': [...]}]}

res_mnist_export.py writes its SavedModel with `signature_defs`, and
res_mnist_serve.py answers `POST /v1/models/NAME:predict`, `GET
/v1/models/NAME` and `GET /v1/models/NAME/metadata` with `Served`, in the
request and answer shapes of TensorFlow Serving: a client of one works with
the other. Both JSON forms of a predict request are understood: the row
form, `{"instances": [...]}` answered with `{"predictions": [...]}`, and
the columnar one, `{"inputs": ...}` answered with `{"outputs": ...}`; an
instance is the input's value or a dict of it by name. A request that
cannot be answered raises `RequestError`, whose message TF Serving would
put in `{"error": ...}`.
"""
import json
import os

from google.protobuf import json_format
import numpy as np
import tensorflow.compat.v1 as tf

from resmnist import errors
from resmnist import model_dir

DEFAULT_SIGNATURE = 'serving_default'
SIGNATURE_MAP_TYPE = 'type.googleapis.com/tensorflow.serving.SignatureDefMap'
# Written beside the SavedModel, where TF Serving expects extra files: the
# model's dataset (its class names) and recipe travel with it.
INFO_FILE = os.path.join('assets.extra', 'model.json')


class RequestError(errors.Error):
  """A request that cannot be answered: HTTP `status` (400 or 404)."""

  def __init__(self, message, status=400):
    super(RequestError, self).__init__(message)
    self.status = status


def signature_defs(model):
  """The SignatureDefs of a `loader.EvalModel`: `serving_default` takes
  `images` `[None, 784]`, `images_28x28` takes `[None, 28, 28, 1]`; both
  give `classes` and `probabilities`. Feeding `images` cuts the graph above
  it, so each signature needs only its own input."""
  outputs = {'classes': model.classes, 'probabilities': model.probabilities}
  return {
      DEFAULT_SIGNATURE: tf.saved_model.predict_signature_def(
          {'images': model.images}, outputs),
      'images_28x28': tf.saved_model.predict_signature_def(
          {'images_28x28': model.images_28x28}, outputs),
  }


class Served(object):
  """A session and its SignatureDefs, run as TF Serving runs them.

  Attributes:
    version: the model's version, as TF Serving names it (the global step).
    info: the model's `model_dir.ModelInfo`; None if unknown (a SavedModel
      exported elsewhere).
    dataset: the dataset it reads: its info's, else MNIST.
  """

  def __init__(self, session, signatures, version, info):
    self._session = session
    self._signatures = signatures
    self.version = str(version)
    self.info = info
    self.dataset = info.dataset if info else 'mnist'

  def status(self):
    """The answer of `GET /v1/models/NAME`."""
    return {'model_version_status': [{
        'version': self.version, 'state': 'AVAILABLE',
        'status': {'error_code': 'OK', 'error_message': ''}}]}

  def metadata(self, name):
    """The answer of `GET /v1/models/NAME/metadata`."""
    defs = {key: json_format.MessageToDict(
        value, preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True)  # as TF Serving prints
            for key, value in self._signatures.items()}
    return {'model_spec': {'name': name, 'signature_name': '',
                           'version': self.version},
            'metadata': {'signature_def': {'signature_def': defs,
                                           '@type': SIGNATURE_MAP_TYPE}}}

  def run(self, inputs, signature_name=DEFAULT_SIGNATURE):
    """{output name: array} of {input name: array} through a signature."""
    signature = self._signature(signature_name)
    feed = {}
    for key, info in signature.inputs.items():
      if key not in inputs:
        raise RequestError('missing input %r of signature %r (it takes %s)'
                           % (key, signature_name, _describe(signature)))
      feed[info.name] = _checked(inputs[key], key, info)
    unknown = set(inputs) - set(signature.inputs)
    if unknown:
      raise RequestError('signature %r has no input %s (it takes %s)' % (
          signature_name, ', '.join(map(repr, sorted(unknown))),
          _describe(signature)))
    names = sorted(signature.outputs)
    values = self._session.run([signature.outputs[n].name for n in names],
                               feed)
    return dict(zip(names, values))

  def predict(self, request):
    """The answer to a predict request's parsed JSON body."""
    if not isinstance(request, dict):
      raise RequestError('the request must be a JSON object with '
                         '"instances" or "inputs"')
    name = request.get('signature_name', DEFAULT_SIGNATURE)
    signature = self._signature(name)
    if ('instances' in request) == ('inputs' in request):
      raise RequestError('give either "instances" (rows) or "inputs" '
                         '(columns), not %s' % (
                             'both' if 'inputs' in request else 'neither'))
    if 'instances' in request:
      outputs = self.run(_rows(request['instances'], signature), name)
      count = len(next(iter(outputs.values())))
      return {'predictions': [{key: value[i].tolist()
                               for key, value in outputs.items()}
                              for i in range(count)]}
    columns = request['inputs']
    if not isinstance(columns, dict):
      columns = {_only_input(signature): columns}
    outputs = self.run(columns, name)
    return {'outputs': {key: value.tolist() for key, value in outputs.items()}}

  def _signature(self, name):
    if not isinstance(name, str) or name not in self._signatures:
      raise RequestError('Serving signature name: "%s" not found in signature '
                         'def (it has %s)' % (name, ', '.join(
                             sorted(self._signatures))))
    return self._signatures[name]

  def close(self):
    self._session.close()


def _describe(signature):
  return ', '.join('%r %s' % (key, _shape(info))
                   for key, info in sorted(signature.inputs.items()))


def _shape(info):
  return [d.size if d.size >= 0 else None for d in info.tensor_shape.dim]


def _only_input(signature):
  if len(signature.inputs) != 1:
    raise RequestError('name the inputs: the signature takes %s'
                       % _describe(signature))
  return next(iter(signature.inputs))


def _rows(instances, signature):
  """{input name: list of values} of the row form's instances."""
  if not isinstance(instances, list) or not instances:
    raise RequestError('"instances" must be a non-empty list')
  if not all(isinstance(row, dict) for row in instances):
    if any(isinstance(row, dict) for row in instances):
      raise RequestError('instances must all be values or all be objects')
    return {_only_input(signature): instances}
  keys = set(instances[0])
  if any(set(row) != keys for row in instances):
    raise RequestError('every instance must name the same inputs')
  return {key: [row[key] for row in instances] for key in keys}


def _checked(value, key, info):
  """`value` as an array of the input's dtype and shape, or RequestError."""
  dtype = tf.as_dtype(info.dtype).as_numpy_dtype
  try:
    array = np.asarray(value, dtype=dtype)
  except (ValueError, TypeError):
    raise RequestError('input %r must be a (nested) list of numbers, every '
                       'instance of the same shape' % key)
  shape = _shape(info)
  if array.ndim != len(shape) or any(
      want is not None and got != want
      for got, want in zip(array.shape, shape)):
    raise RequestError('input %r has shape %s; the signature takes %s' % (
        key, list(array.shape), ['N' if d is None else d for d in shape]))
  if array.dtype.kind == 'f' and not np.isfinite(array).all():
    raise RequestError('input %r holds a NaN or an infinity' % key)
  return array


def from_model(model):
  """The `Served` of a `loader.EvalModel` (a checkpoint)."""
  return Served(model.session, signature_defs(model), model.step_restored,
                model.info)


def is_saved_model(path):
  return os.path.isfile(os.path.join(path, 'saved_model.pb'))


def latest_version(path):
  """`path` if it is a SavedModel; else its highest numbered SavedModel, as
  TF Serving picks from a base path; None if it has none."""
  if is_saved_model(path):
    return path
  try:
    versions = [int(name) for name in os.listdir(path) if name.isdigit()
                and is_saved_model(os.path.join(path, name))]
  except OSError:
    return None
  return os.path.join(path, str(max(versions))) if versions else None


def from_saved_model(path):
  """The `Served` of a SavedModel directory, or of the latest version in a
  TF Serving base path, in a graph and session of its own.

  Raises:
    errors.Error: there is no SavedModel there, or it cannot be loaded.
  """
  directory = latest_version(path)
  if directory is None:
    raise errors.Error('%s holds no SavedModel' % path)
  graph = tf.Graph()
  session = tf.Session(graph=graph)
  try:
    with graph.as_default():
      meta_graph = tf.saved_model.loader.load(
          session, [tf.saved_model.tag_constants.SERVING], directory)
  except (tf.errors.OpError, IOError, ValueError, RuntimeError) as e:
    session.close()
    raise errors.Error('%s: cannot load the SavedModel (%s)' % (
        directory, str(e).strip().splitlines()[0]))
  info = None
  info_path = os.path.join(directory, INFO_FILE)
  if os.path.isfile(info_path):
    try:
      with open(info_path) as f:
        info = model_dir.ModelInfo.from_json(json.load(f))
    except (OSError, ValueError, TypeError) as e:
      session.close()
      raise errors.Error('%s: cannot read it (%s)' % (info_path, e))
  name = os.path.basename(os.path.normpath(directory))
  return Served(session, dict(meta_graph.signature_def),
                name if name.isdigit() else '1', info)
