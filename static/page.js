// The digit reader's page: a pad to draw on (mouse, pen or finger) and a
// photo drop; each is sent as an image file to POST /read, and what the
// server read is shown: the digits, their probabilities, the cleaned page.
'use strict';

const pad = document.getElementById('pad');
const ink = pad.getContext('2d');
const status = document.getElementById('status');
let drawn = false;     // anything on the pad since it was cleared
let last = null;       // the pen's last point while it is down
let pending = null;    // the timer of the next reading of the pad
let reading = 0;       // the number of the latest request: older answers are dropped

function clearPad() {
  // The pad's pixels follow its size on screen, so strokes stay sharp.
  const ratio = window.devicePixelRatio || 1;
  pad.width = Math.round(pad.clientWidth * ratio);
  pad.height = Math.round(pad.clientHeight * ratio);
  ink.fillStyle = '#fff';
  ink.fillRect(0, 0, pad.width, pad.height);
  // As thick as an MNIST stroke: about 2.5 of its 28 pixels.
  ink.lineWidth = pad.width * 0.075;
  ink.lineCap = ink.lineJoin = 'round';
  ink.strokeStyle = '#000';
  drawn = false;
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
          (event.clientY - box.top) * pad.height / box.height];
}

pad.addEventListener('pointerdown', (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  clearTimeout(pending);
  last = point(event);
  ink.beginPath();  // a dot, for a tap
  ink.arc(last[0], last[1], ink.lineWidth / 2, 0, 2 * Math.PI);
  ink.fillStyle = '#000';
  ink.fill();
  drawn = true;
});

pad.addEventListener('pointermove', (event) => {
  if (!last) return;
  const next = point(event);
  ink.beginPath();
  ink.moveTo(last[0], last[1]);
  ink.lineTo(next[0], next[1]);
  ink.stroke();
  last = next;
});

function penUp() {
  if (!last) return;
  last = null;
  // Read when the hand rests, not between the strokes of one digit.
  pending = setTimeout(() => pad.toBlob((blob) => read(blob, 'drawing')), 400);
}
pad.addEventListener('pointerup', penUp);
pad.addEventListener('pointercancel', penUp);

document.getElementById('clear').addEventListener('click', () => {
  clearTimeout(pending);
  reading += 1;
  clearPad();
  show(null);
  status.textContent = 'Nothing yet.';
  status.className = '';
});

const file = document.getElementById('file');
const drop = document.getElementById('drop');
file.addEventListener('change', () => {
  if (file.files.length) read(file.files[0], file.files[0].name);
});
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  if (event.dataTransfer.files.length) {
    read(event.dataTransfer.files[0], event.dataTransfer.files[0].name);
  }
});

async function read(blob, name) {
  const number = ++reading;
  status.textContent = 'Reading ' + name + '…';
  status.className = 'busy';
  const tta = document.getElementById('tta').checked ? '1' : '0';
  let answer;
  try {
    const response = await fetch('/read?tta=' + tta, {method: 'POST', body: blob});
    answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
  } catch (error) {
    if (number !== reading) return;
    show(null);
    status.textContent = name + ': ' + error.message;
    status.className = 'error';
    return;
  }
  if (number !== reading) return;  // a newer reading is on its way
  show(answer);
  status.textContent = name + ': read' + (answer.tta ? ' 9 ways' : '') + '.';
  status.className = 'done';
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function bars(digit, names) {
  const list = element('div', 'bars');
  const top = digit.probabilities.indexOf(Math.max(...digit.probabilities));
  digit.probabilities.forEach((p, i) => {
    const bar = element('div', i === top ? 'bar top' : 'bar');
    const track = element('span', 'track');
    const fill = element('span', 'fill');
    fill.style.width = (100 * p).toFixed(1) + '%';
    fill.style.display = 'block';
    track.appendChild(fill);
    bar.append(element('span', 'name', names[i]), track,
               element('span', 'value', (100 * p).toFixed(1) + '%'));
    list.appendChild(bar);
  });
  return list;
}

function show(answer) {
  const text = document.getElementById('text');
  const digits = document.getElementById('digits');
  text.textContent = '';
  digits.textContent = '';
  document.getElementById('page').hidden = !answer;
  if (!answer) return;
  text.textContent = answer.text;
  if (answer.unsure) text.appendChild(element('span', 'unsure', 'unsure'));
  answer.digits.forEach((digit) => {
    const row = element('div', digit.sure ? 'digit' : 'digit unsure');
    const seen = element('img');
    seen.src = digit.seen;
    seen.alt = 'The 28x28 image the network read';
    row.append(seen, element('span', 'read', digit.sure ? digit.class : '?'),
               bars(digit, answer.class_names));
    digits.appendChild(row);
  });
  document.getElementById('boxes').src = answer.boxes;
}

async function describeModel() {
  try {
    const about = await (await fetch('/about')).json();
    document.getElementById('tta').checked = about.tta;
    const what = about.dataset === 'mnist' ?
        'Draw a digit, or drop a photo of a number.' :
        'Drop a photo of one item, or draw one.';
    document.getElementById('model').textContent = what + ' Model: ' +
        (about.net || about.name) + ', ' + about.dataset + ', version ' +
        about.version + '.';
  } catch (error) { /* the line stays as it is */ }
}

function confusionTable(matrix, names) {
  // Rows: the label; columns: what was read.
  const table = document.getElementById('confusion');
  table.textContent = '';
  const head = element('tr');
  head.appendChild(element('th', '', 'label \\ read'));
  names.forEach((name) => head.appendChild(element('th', '', name)));
  table.appendChild(head);
  matrix.forEach((row, label) => {
    const line = element('tr');
    line.appendChild(element('th', '', names[label]));
    row.forEach((count, read) => line.appendChild(element(
        'td', read === label ? 'right' : (count ? 'wrong' : ''), String(count))));
    table.appendChild(line);
  });
}

function chooseMisread(item, button, names) {
  document.querySelectorAll('#misread button').forEach(
      (other) => other.classList.remove('chosen'));
  button.classList.add('chosen');
  const chosen = document.getElementById('misread-chosen');
  chosen.textContent = '';
  const row = element('div', 'digit');
  const seen = element('img');
  seen.src = item.image;
  seen.alt = 'Test image ' + item.index;
  row.append(seen, element('span', 'read', names[item.read]),
             element('span', '', 'test image ' + item.index + ', labelled ' +
                     names[item.label]),
             bars(item, names));
  chosen.appendChild(row);
}

async function showReport() {
  const summary = document.getElementById('report-summary');
  let answer;
  try {
    answer = await (await fetch('/report')).json();
  } catch (error) {
    summary.textContent = 'No report: ' + error.message;
    return;
  }
  if (answer.error) {
    summary.textContent = answer.error;
    return;
  }
  const names = answer.class_names;
  summary.textContent = 'Test accuracy ' + (100 * answer.accuracy).toFixed(2) +
      '% of ' + answer.test_images + ' images; ' + answer.misread +
      ' misread. Expected calibration error ' +
      (100 * answer.ece_after).toFixed(2) + '%' +
      (answer.ece_after !== answer.ece_before ?
          ' (' + (100 * answer.ece_before).toFixed(2) + '% before calibration)' : '') + '.';
  confusionTable(answer.confusion_matrix, names);
  document.getElementById('misread-title').hidden = !answer.shown.length;
  document.getElementById('misread-title').textContent = answer.shown.length < answer.misread ?
      'Misread: the ' + answer.shown.length + ' read most confidently wrong (choose one)' :
      'Misread (choose one)';
  const misread = document.getElementById('misread');
  misread.textContent = '';
  answer.shown.forEach((item) => {
    const button = element('button');
    button.type = 'button';
    button.title = names[item.label] + ' read as ' + names[item.read];
    const image = element('img');
    image.src = item.image;
    image.alt = button.title;
    button.appendChild(image);
    button.addEventListener('click', () => chooseMisread(item, button, names));
    misread.appendChild(button);
  });
}

window.addEventListener('resize', () => { if (!drawn) clearPad(); });
clearPad();
describeModel();
showReport();
