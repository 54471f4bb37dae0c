// The page of the tasks demo with -streams tab: one EventSource for the
// whole tab, at /api/sse/stream?request_id=<tab id>, that carries the events
// of every task the tab started (each with its task_id) and the backend's
// version. The stream is never closed by the backend, so the page never
// closes it either. No framework, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
window.streamOpens = 0; // for the browser test: one stream, however many tasks

// The tab's id survives a reload, so that a reload gets the events the
// backend kept for it meanwhile.
let requestID = sessionStorage.getItem('tab-id');
if (!requestID) {
  requestID = crypto.randomUUID();
  sessionStorage.setItem('tab-id', requestID);
}

// onEvent handles one backend event, whatever the gateway's generation.
function onEvent(name, data) {
  if (name === 'version') $('version').textContent = data.version;
  if (name === 'task_event') onTaskEvent(data);
}

// open opens the tab's stream:
//   - generation 1 sends named events: "event: task_event" + "data: {...}";
//   - generation 2 sends unnamed envelopes {"type":"task_event","payload":{...}}.
async function open() {
  const config = await (await fetch('/api/config')).json();
  const es = new EventSource(config.gateway + '/api/sse/stream?request_id=' + encodeURIComponent(requestID));
  es.addEventListener('task_event', (e) => onEvent('task_event', JSON.parse(e.data)));
  es.addEventListener('version', (e) => onEvent('version', JSON.parse(e.data)));
  es.onmessage = (e) => {
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    if (msg && typeof msg.type === 'string' && 'payload' in msg) onEvent(msg.type, msg.payload);
  };
  es.onopen = () => {
    window.streamOpens++;
    $('opens').textContent = String(window.streamOpens);
    $('stream').textContent = 'stream open';
  };
  es.onerror = () => { $('stream').textContent = 'reconnecting…'; };
}

// card returns the card of a task, made on its first event or when its
// start answers, whichever comes first.
function card(id) {
  let c = document.querySelector('[data-task="' + CSS.escape(id) + '"]');
  if (c) return c;
  c = document.createElement('section');
  c.className = 'card task';
  c.dataset.task = id;
  c.innerHTML = `
    <div class="row"><h2>Task <code class="id"></code></h2>
      <span class="badge status" data-state="pending">pending</span></div>
    <div class="progress" role="progressbar" aria-label="Task progress"
         aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><div class="bar"></div></div>
    <div class="row meta"><span class="text">Waiting for a worker</span><span class="percent">0%</span></div>
    <div class="row actions"><button type="button" class="secondary cancel">Cancel</button></div>
    <pre class="result" hidden></pre>
    <p class="error" role="alert" hidden></p>`;
  c.querySelector('.id').textContent = id.slice(0, 8);
  c.querySelector('.cancel').addEventListener('click', () => {
    c.querySelector('.cancel').disabled = true;
    fetch('/api/tasks/' + encodeURIComponent(id) + '/cancel', { method: 'POST' });
  });
  $('tasks').prepend(c);
  return c;
}

function onTaskEvent(msg) {
  const c = card(msg.task_id);
  const q = (sel) => c.querySelector(sel);
  const setStatus = (s) => { q('.status').textContent = s; q('.status').dataset.state = s; };
  const setProgress = (value, text) => {
    const pct = Math.round(Math.max(0, Math.min(1, value)) * 100);
    q('.bar').style.width = pct + '%';
    q('.progress').setAttribute('aria-valuenow', String(pct));
    q('.percent').textContent = pct + '%';
    if (text) q('.text').textContent = text;
  };
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
      q('.result').textContent = JSON.stringify(msg.data, null, 2);
      q('.result').hidden = false;
      q('.cancel').disabled = true;
      break;
    case 'task_failed':
      q('.cancel').disabled = true;
      if (msg.data.code === 'CANCELLED') {
        setStatus('cancelled');
        q('.text').textContent = 'Cancelled';
        break;
      }
      setStatus('failed');
      q('.error').textContent = msg.data.error;
      q('.error').hidden = false;
      break;
  }
}

async function start() {
  try {
    const resp = await fetch('/api/tasks?request_id=' + encodeURIComponent(requestID), { method: 'POST' });
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error || resp.statusText);
    card(body.id);
  } catch (err) {
    $('error').textContent = 'Cannot start a task: ' + err.message;
    $('error').hidden = false;
  }
}

$('start').addEventListener('click', start);
open().catch((err) => {
  $('error').textContent = 'Cannot open the stream: ' + err.message;
  $('error').hidden = false;
});
