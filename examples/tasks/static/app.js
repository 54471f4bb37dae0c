// The page of the tasks demo: POST /api/tasks starts a task, and an
// EventSource on the gateway follows it. No framework, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
let source = null; // the EventSource of the current task
let taskID = null;

// follow opens the task's stream on the gateway and calls onEvent(name, data)
// for every event the backend sent, whatever the gateway's generation:
//   - generation 1 sends a named event: "event: task_event" + "data: {...}";
//   - generation 2 sends an unnamed event whose data is the envelope
//     {"type":"task_event","payload":{...}}, plus its own "ready" and
//     "rejected" control events.
function follow(url, onEvent) {
  const es = new EventSource(url);
  es.addEventListener('task_event', (e) => onEvent('task_event', JSON.parse(e.data)));
  es.onmessage = (e) => {
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    if (msg && typeof msg.type === 'string' && 'payload' in msg) onEvent(msg.type, msg.payload);
  };
  es.addEventListener('ready', () => setStream('stream open'));
  es.addEventListener('rejected', (e) => {
    es.close();
    fail('The backend refused the stream: ' + e.data);
  });
  es.onopen = () => setStream('stream open');
  es.onerror = () => {
    // EventSource reconnects by itself; the backend then replays what the
    // page missed. A stream we closed, or that failed for good, is CLOSED.
    if (es.readyState === EventSource.CLOSED) {
      if (source === es) fail('The stream to the gateway failed.');
    } else {
      setStream('reconnecting…');
    }
  };
  return es;
}

function onTaskEvent(name, msg) {
  if (name !== 'task_event') return;
  log(msg.event_type, msg.data);
  switch (msg.event_type) {
    case 'task_started':
      setStatus('running');
      break;
    case 'progress_update':
      setProgress(msg.data.value, msg.data.text);
      break;
    case 'task_completed':
      setProgress(1, 'Done');
      setStatus('completed');
      $('result-json').textContent = JSON.stringify(msg.data, null, 2);
      $('result').hidden = false;
      break;
    case 'task_failed':
      // The runner ends a cancelled task as task_failed with code CANCELLED,
      // and an unknown or expired one with code TASK_NOT_FOUND.
      if (msg.data.code === 'CANCELLED') {
        setStatus('cancelled');
        $('text').textContent = 'Cancelled';
        break;
      }
      setStatus('failed');
      fail(msg.data.error);
      break;
    case 'task_cancelled': // only with task.WithCancelledEvent
      setStatus('cancelled');
      $('text').textContent = 'Cancelled';
      break;
    case 'connection_close':
      // The gateway ends the stream now; without close() the EventSource
      // would reconnect and get the replay again.
      closeStream('stream closed: ' + msg.data.reason);
      $('start').disabled = false;
      $('cancel').disabled = true;
      break;
  }
}

async function start() {
  reset();
  $('start').disabled = true;
  setStatus('pending');
  try {
    const resp = await fetch('/api/tasks', { method: 'POST' });
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error || resp.statusText);
    taskID = body.id;
    $('cancel').disabled = false;
    setStream('connecting…');
    source = follow(body.stream_url, onTaskEvent);
  } catch (err) {
    setStatus('failed');
    fail('Cannot start a task: ' + err.message);
    $('start').disabled = false;
  }
}

async function cancel() {
  if (!taskID) return;
  $('cancel').disabled = true;
  await fetch('/api/tasks/' + encodeURIComponent(taskID) + '/cancel', { method: 'POST' });
}

function reset() {
  closeStream('no stream');
  taskID = null;
  setProgress(0, 'Starting…');
  $('result').hidden = true;
  $('error').hidden = true;
  $('log').replaceChildren();
}

function closeStream(text) {
  if (source) source.close();
  source = null;
  setStream(text);
}

function setProgress(value, text) {
  const pct = Math.round(Math.max(0, Math.min(1, value)) * 100);
  $('bar').style.width = pct + '%';
  $('progress').setAttribute('aria-valuenow', String(pct));
  $('percent').textContent = pct + '%';
  if (text) $('text').textContent = text;
}

function setStatus(state) {
  const el = $('status');
  el.textContent = state;
  el.dataset.state = state;
}

function setStream(text) { $('stream').textContent = text; }

function fail(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

function log(type, data) {
  const li = document.createElement('li');
  li.dataset.type = type;
  const t = document.createElement('span');
  t.className = 'type';
  t.textContent = type;
  const d = document.createElement('code');
  d.textContent = JSON.stringify(data);
  li.append(t, d);
  $('log').append(li);
  $('log').scrollTop = $('log').scrollHeight; // keep the newest in view
}

$('start').addEventListener('click', start);
$('cancel').addEventListener('click', cancel);
