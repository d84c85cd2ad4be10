"""How sure a model should be: temperature scaling, and its measure.

    temperature = calibration.fit_temperature(logits, labels)  # held-out images
    probabilities = calibration.softmax(logits, temperature)
    print(calibration.expected_calibration_error(probabilities, labels))

Guo et al. 2017 ("On Calibration of Modern Neural Networks"): the logits
divided by one temperature T, fitted by minimising the cross-entropy on
held-out images, so that "90% sure" is right about 90% of the time. T > 1
softens an over-confident model, T < 1 sharpens an under-confident one
(label smoothing makes one); the class read does not change. The expected
calibration error (ECE) is the gap between confidence and accuracy over
equal-width confidence bins, weighted by how many readings fall in each.
"""
import numpy as np
from scipy import optimize
from scipy import special

# Equal-width confidence bins of the ECE and the reliability diagram.
BINS = 15
# Where a run trains on every image, the training images a temperature is
# fitted on (as many as a validation split holds by default).
HELD_OUT_IMAGES = 5000
# The search range of log T: T from 1/20 to 20.
LOG_TEMPERATURE_BOUND = np.log(20.0)


def softmax(logits, temperature=1.0):
  """The class probabilities of `logits` `[N, C]` divided by `temperature`."""
  return special.softmax(np.asarray(logits, np.float64) / temperature, axis=1)


def _nll(logits, labels, temperature):
  log_p = special.log_softmax(logits / temperature, axis=1)
  return -log_p[np.arange(len(labels)), labels].mean()


def fit_temperature(logits, labels):
  """The temperature that minimises the mean cross-entropy of `logits`
  `[N, C]` against class ids `labels` `[N]`."""
  logits = np.asarray(logits, np.float64)
  labels = np.asarray(labels)
  found = optimize.minimize_scalar(
      lambda log_t: _nll(logits, labels, np.exp(log_t)),
      bounds=(-LOG_TEMPERATURE_BOUND, LOG_TEMPERATURE_BOUND), method='bounded')
  return float(np.exp(found.x))


def held_out(data):
  """The images, class ids and name of the images a temperature is fitted
  on: `data`'s validation split; where it has none (a run that trains on
  every image), the first `HELD_OUT_IMAGES` training images. Never the test
  set. Those were trained on, so the model is surer of them than of new
  images, and a temperature fitted there corrects less than it would on
  unseen ones."""
  if data.validation.num_examples:
    images, labels = data.validation.images, data.validation.labels
    return images, labels.argmax(axis=1), '%d validation images' % len(images)
  images = data.train.images[:HELD_OUT_IMAGES]
  labels = data.train.labels[:HELD_OUT_IMAGES]
  return images, labels.argmax(axis=1), 'first %d training images' % len(
      images)


def fit(logits_of, data):
  """The temperature of a model (`logits_of`: `[N, 784]` -> logits) fitted
  on `data`'s `held_out` images, and a line that says what was done."""
  images, labels, which = held_out(data)
  temperature = fit_temperature(logits_of(images), labels)
  return temperature, 'temperature %.3f, fitted on the %s' % (temperature,
                                                            which)


def reliability(probabilities, labels, bins=BINS):
  """Per confidence bin: (mean confidence, accuracy, count) of the readings
  whose top probability falls in it; bins without readings are left out."""
  confidence = probabilities.max(axis=1)
  right = probabilities.argmax(axis=1) == labels
  # The top probability is at least 1/C; a bin's upper edge is in it.
  which = np.minimum((confidence * bins).astype(int), bins - 1)
  return [(float(confidence[which == b].mean()),
           float(right[which == b].mean()), int((which == b).sum()))
          for b in range(bins) if (which == b).any()]


def expected_calibration_error(probabilities, labels, bins=BINS):
  """The ECE of `probabilities` `[N, C]` against class ids `labels`: the
  mean over readings of |accuracy - confidence| of their bin."""
  return float(sum(count * abs(accuracy - confidence)
                   for confidence, accuracy, count in reliability(
                       probabilities, labels, bins)) / max(len(labels), 1))
