// Strophe.js 5 with the Shared BOSH plugin (src/client/strophe-plugin.ts, served compiled at /lib/).
// Uses the same key scope as demo/app.js, so it attaches to the link the demo tabs share.
// URL parameters: ?jid=...&password=...&connect=1 connects at once. `window.demo` is for the tests.
import { Strophe, $msg } from '/vendor/strophe.esm.js';
import { withSharedBosh, stanzaKind } from '/lib/client/strophe-plugin.js';
import { BrowserKeyShare, webStorage } from '/lib/client/index.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const config = await (await fetch('/config.json', { cache: 'no-store' })).json();
const boshUrl = params.get('bosh') || config.boshUrl;

const demo = { status: 'disconnected', jid: '', sid: '', result: '', entries: [], connect, send: sendMessage, leave, connection: undefined };
window.demo = demo;

let conn;

function statusName(status) {
  return Object.keys(Strophe.Status).find((k) => Strophe.Status[k] === status)?.toLowerCase() ?? String(status);
}

function render() {
  $('status').textContent = demo.status;
  $('jid-value').textContent = demo.jid;
  $('sid').textContent = demo.sid;
  $('result').textContent = demo.result;
  $('bosh').textContent = boshUrl;
  const connected = demo.status === 'connected';
  $('connect').disabled = !!conn && !['disconnected', 'connfail', 'authfail'].includes(demo.status);
  $('leave').disabled = !connected;
  $('send').disabled = !connected;
}

function addEntry(entry) {
  const full = { at: Date.now(), ...entry };
  demo.entries.push(full);
  const li = document.createElement('li');
  li.dataset.kind = full.kind;
  const badge = document.createElement('span');
  badge.className = `kind ${full.kind}`;
  badge.textContent = full.kind;
  const text =
    full.kind === 'info'
      ? full.text
      : `<${full.name}${full.type ? ` type=${full.type}` : ''}>${full.from ? ` from ${full.from}` : ''}${full.to ? ` to ${full.to}` : ''}${full.body !== undefined ? `: ${full.body}` : ''}`;
  li.append(badge, text);
  if (full.xml) li.title = full.xml;
  $('log').append(li);
}

function entryOf(kind, el) {
  const body = el.getElementsByTagName('body')[0];
  return {
    kind,
    name: el.nodeName,
    type: el.getAttribute('type') ?? undefined,
    from: el.getAttribute('from') ?? undefined,
    to: el.getAttribute('to') ?? undefined,
    id: el.getAttribute('id') ?? undefined,
    body: body ? body.textContent : undefined,
    xml: Strophe.serialize(el),
  };
}

function connect(jid, password) {
  if (conn && demo.status !== 'disconnected' && demo.status !== 'connfail' && demo.status !== 'authfail') return;
  const bare = jid.split('/')[0].toLowerCase();
  conn = new Strophe.Connection(boshUrl);
  demo.connection = conn;
  const shared = withSharedBosh(conn, Strophe, {
    keyShare: new BrowserKeyShare({ scope: `${bare} ${boshUrl}` }),
    storage: webStorage(sessionStorage),
  });
  let handlersAdded = false;
  shared.connect(bare, password, (status, condition) => {
    demo.status = statusName(status);
    if (status === Strophe.Status.CONNECTED) {
      demo.jid = conn.jid;
      demo.sid = conn._proto.sid ?? '';
      demo.result = shared.result ?? '';
      if (!handlersAdded) {
        handlersAdded = true;
        for (const name of ['message', 'presence', 'iq']) {
          conn.addHandler((el) => {
            addEntry(entryOf(stanzaKind(el), el));
            return true;
          }, null, name);
        }
      }
      addEntry({ kind: 'info', text: shared.result === 'attached' ? `attached to the link of ${conn.jid}: no login` : `${shared.result}: logged in as ${conn.jid}` });
    } else if (condition) {
      addEntry({ kind: 'info', text: `${demo.status}: ${condition}` });
    }
    render();
  });
  render();
}

function sendMessage(to, text) {
  if (!conn || demo.status !== 'connected') throw new Error('not connected');
  const id = conn.getUniqueId('demo');
  const el = $msg({ to, type: 'chat', id }).c('body').t(text).tree();
  conn.send(el);
  addEntry(entryOf('sent', el));
  return id;
}

function leave() {
  conn?.disconnect('leaving');
}

$('jid').value = params.get('jid') || localStorage.getItem('shared-bosh-demo:last-jid') || config.users[0]?.jid || '';
$('password').value = params.get('password') || '';
$('to').value = params.get('to') || config.users.map((u) => u.jid).find((j) => j !== $('jid').value) || '';
$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  connect($('jid').value.trim(), $('password').value);
});
$('leave').addEventListener('click', leave);
$('compose').addEventListener('submit', (ev) => {
  ev.preventDefault();
  try {
    sendMessage($('to').value.trim(), $('text').value);
    $('text').value = '';
  } catch (err) {
    addEntry({ kind: 'info', text: `not sent: ${err.message}` });
  }
});
render();
if (params.has('connect')) connect($('jid').value.trim(), $('password').value);
