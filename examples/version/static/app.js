// The page of the version demo. It knows the version it runs (here read
// from version.json at load; a real app bakes it into its bundle), follows
// its version stream on the gateway, and shows a banner when the stream
// announces another version. No framework, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
let pageVersion = null;

// A request id names this tab's stream: "version:<request id>" on the
// backend. Notifications for it are kept while the tab is away.
const requestID = 'tab-' + Math.random().toString(36).slice(2, 12);

// follow opens the stream and calls onEvent(name, data) for every event the
// backend sent, whatever the gateway's generation: generation 1 sends named
// events ("event: version"), generation 2 wraps them in unnamed events
// {"type":"version","payload":{...}}.
function follow(url, onEvent) {
  const es = new EventSource(url);
  es.addEventListener('version', (e) => onEvent('version', JSON.parse(e.data)));
  es.onmessage = (e) => {
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    if (msg && typeof msg.type === 'string' && 'payload' in msg) onEvent(msg.type, msg.payload);
  };
  es.onopen = () => setStream('connected');
  es.addEventListener('ready', () => setStream('connected'));
  es.addEventListener('rejected', (e) => {
    es.close();
    fail('The backend refused the stream: ' + e.data);
  });
  es.onerror = () => setStream(es.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…');
  return es;
}

function onEvent(name, info) {
  if (name !== 'version') return;
  log(info);
  if (info.error) {
    $('latest-version').textContent = 'unknown (' + info.error + ')';
    return;
  }
  $('latest-version').textContent = info.version;
  if (pageVersion && info.version !== pageVersion) {
    $('banner-version').textContent = info.version;
    $('banner-changelog').textContent = info.changelog || '';
    $('banner').hidden = false;
  }
}

async function main() {
  $('request-id').textContent = requestID;
  const [cur, cfg] = await Promise.all([
    fetch('/version.json', { cache: 'no-store' }).then((r) => r.json()),
    fetch('/api/config').then((r) => r.json()),
  ]);
  pageVersion = cur.version;
  $('page-version').textContent = pageVersion;
  follow(cfg.stream_url + '?' + encodeURIComponent(cfg.param) + '=' + encodeURIComponent(requestID), onEvent);
}

async function publish(e) {
  e.preventDefault();
  $('error').hidden = true;
  const body = { version: $('new-version').value.trim(), changelog: $('new-changelog').value.trim() };
  try {
    const resp = await fetch('/api/version', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const out = await resp.json();
    if (!resp.ok) throw new Error(out.error || resp.statusText);
    const n = out.deliveries.length;
    $('published').textContent = 'Published ' + out.version + ' to ' + n + ' connected page' + (n === 1 ? '' : 's') + '.';
    $('published').hidden = false;
  } catch (err) {
    fail('Cannot publish: ' + err.message);
  }
}

function setStream(text) { $('stream').textContent = text; }

function fail(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

function log(info) {
  const li = document.createElement('li');
  const t = document.createElement('span');
  t.className = 'type';
  t.textContent = 'version';
  const d = document.createElement('code');
  d.textContent = JSON.stringify(info);
  li.append(t, d);
  $('log').append(li);
  $('log').scrollTop = $('log').scrollHeight; // keep the newest in view
}

$('publish').addEventListener('submit', publish);
$('reload').addEventListener('click', () => location.reload());
main().catch((err) => fail('Cannot start: ' + err.message));
