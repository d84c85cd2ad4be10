"""res_mnist_serve.py's page in a real browser: headless Chromium, driven by
Selenium, draws MNIST test digits stroke by stroke and drops a photo of a
number."""
import base64
import re
import shutil

import numpy as np
import pytest

from conftest import MNIST_DIR, encode_image, needs_mnist
from resmnist import input_data
from test_photo import _number, _photo
from test_serve import start, stop

pytestmark = pytest.mark.slow

BROWSER, DRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'
NO_BROWSER = ('the browser tests need Debian\'s chromium and chromium-driver '
              '(apt-get install chromium chromium-driver; .ci/run does)')


def new_browser(width=1280, height=900):
  """A headless Chromium, driven by Selenium."""
  if not (shutil.which(BROWSER) and shutil.which(DRIVER)):
    pytest.skip(NO_BROWSER)
  webdriver = pytest.importorskip('selenium.webdriver')
  options = webdriver.ChromeOptions()
  options.binary_location = BROWSER
  for argument in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage',
                   '--window-size=%d,%d' % (width, height)):
    options.add_argument(argument)
  return webdriver.Chrome(options=options,
                          service=webdriver.ChromeService(DRIVER))


@pytest.fixture(scope='module')
def page(real_run):
  """(browser, the page's URL), the page of the real model's server."""
  browser = new_browser()  # first: it may skip
  server, url = start(real_run[0])
  yield browser, url
  browser.quit()
  stop(server)


def strokes(image):
  """An MNIST image as pen strokes, in its 28x28 pixels: each run of ink
  along a row, drawn left to right."""
  ink = image.reshape(28, 28) > 0.5
  found = []
  for row in range(28):
    cols = np.flatnonzero(ink[row])
    for run in np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1):
      if len(run):
        found.append(((run[0], row), (run[-1], row)))
  return found


def draw(browser, image):
  """Draws `image` on the pad, stroke by stroke, with the mouse."""
  from selenium.webdriver.common.action_chains import ActionChains
  pad = browser.find_element('id', 'pad')
  size = pad.size['width']

  def offset(x, y):  # from the pad's centre, where Selenium measures
    return int((x + 0.5) * size / 28 - size / 2), int(
        (y + 0.5) * size / 28 - size / 2)

  for start, end in strokes(image):
    actions = ActionChains(browser, duration=0)
    actions.move_to_element_with_offset(pad, *offset(*start)).click_and_hold()
    actions.move_to_element_with_offset(pad, *offset(*end)).release()
    actions.perform()


def shown(browser, done_before):
  """The text the page shows once it has read the pad or a photo."""
  from selenium.webdriver.support.ui import WebDriverWait
  WebDriverWait(browser, 60).until(lambda b: b.execute_script(
      'const s = document.getElementById("status");'
      'return s.className === "done" || s.className === "error"') and (
          b.find_element('id', 'status').text != done_before))
  return browser.find_element('id', 'text').text


@needs_mnist
def test_digits_drawn_on_the_pad(page):
  browser, url = page
  browser.get(url)
  test = input_data.read_data_sets(MNIST_DIR, validation_size=0).test
  read = []
  for index in range(4):
    browser.find_element('id', 'clear').click()
    draw(browser, test.images[index])
    read.append(shown(browser, 'Nothing yet.').split()[0])
  assert read == [str(d) for d in test.labels[:4].argmax(1)]
  rows = browser.find_elements('css selector', '#digits .digit')
  assert len(rows) == 1 and len(rows[0].find_elements(
      'css selector', '.bar')) == 10
  # Everything came from the server: the page works offline.
  assert browser.execute_script(
      'return performance.getEntriesByType("resource").every('
      'e => e.name.startsWith(location.origin))')


@needs_mnist
def test_a_photo_dropped_on_the_page(page, tmp_path):
  browser, url = page
  browser.get(url)
  number = encode_image(_photo(_number('4172', 48, 0.3)[0], light='gradient',
                               paper=(0.95, 0.92, 0.8),
                               ink_colour=(0.1, 0.1, 0.4)), 'jpeg')
  # A drop event holding the file, as the browser makes of a dragged one.
  browser.execute_script(
      'const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));'
      'const data = new DataTransfer();'
      'data.items.add(new File([bytes], "number.jpg", {type: "image/jpeg"}));'
      'document.getElementById("drop").dispatchEvent('
      '  new DragEvent("drop", {dataTransfer: data, bubbles: true}));',
      base64.b64encode(number).decode())
  assert shown(browser, 'Nothing yet.') == '4172'
  assert len(browser.find_elements('css selector', '#digits .digit')) == 4
  assert browser.find_element('id', 'boxes').get_attribute(
      'src').startswith('data:image/png;base64,')
  # A file chosen with the picker that is no image: its error, on the page.
  bad = tmp_path / 'notes.png'
  bad.write_bytes(b'not an image')
  browser.find_element('id', 'file').send_keys(str(bad))
  assert shown(browser, 'number.jpg: read.') == ''
  assert browser.find_element('id', 'status').text == (
      'notes.png: not an image (PNG, JPEG, BMP or GIF expected)')


@needs_mnist
def test_the_page_fits_a_phone(page):
  browser = new_browser(390, 844)
  try:
    browser.get(page[1])
    assert browser.execute_script(
        'return document.documentElement.scrollWidth <= window.innerWidth')
    pad = browser.find_element('id', 'pad')
    assert 200 <= pad.size['width'] <= 390
  finally:
    browser.quit()


@needs_mnist
def test_the_page_shows_how_it_reads_the_test_set(page):
  """Its accuracy, the confusion matrix, and the misread digits, each with
  its probabilities once chosen."""
  from selenium.webdriver.support.ui import WebDriverWait
  browser, url = page
  browser.get(url)
  WebDriverWait(browser, 60).until(lambda b: b.find_element(
      'id', 'report-summary').text.startswith('Test accuracy'))
  summary = browser.find_element('id', 'report-summary').text
  misread = int(re.match(r'Test accuracy [\d.]+% of 10000 images; (\d+) '
                         r'misread\. Expected calibration error', summary,
                         re.M).group(1))
  rows = browser.find_elements('css selector', '#confusion tr')
  assert len(rows) == 11  # the header, then a row per label
  counts = [int(cell.text) for row in rows[1:]
            for cell in row.find_elements('css selector', 'td')]
  assert sum(counts) == 10000 and len(counts) == 100
  diagonal = sum(counts[11 * i] for i in range(10))
  assert diagonal == 10000 - misread
  buttons = browser.find_elements('css selector', '#misread button')
  assert len(buttons) == min(misread, 100) > 0
  buttons[0].click()
  chosen = browser.find_element('id', 'misread-chosen')
  assert 'labelled' in chosen.text
  assert len(chosen.find_elements('css selector', '.bar')) == 10
