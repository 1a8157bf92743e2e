// The Shared BOSH demo page: the client library (src/client, served compiled from dist/src at
// /lib/) in a browser tab. Same-origin tabs share the link's key through localStorage
// (BrowserKeyShare); each tab keeps its own BOSH session in sessionStorage so that a reload
// resumes it (SharedClient `storage`) instead of logging in again.
//
// URL parameters: ?jid=alice@localhost&password=alice-pw&connect=1 connects at once;
// ?bosh=<url> overrides the CM URL of /config.json; ?debug=1 logs the client's debug lines.
//
// `window.demo` exposes the state and the log for the browser tests (test/browser/).
import { SharedClient, BrowserKeyShare, ConnectError, webStorage, xml, textOf } from '/lib/client/index.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const config = await (await fetch('/config.json', { cache: 'no-store' })).json();
const boshUrl = params.get('bosh') || config.boshUrl;
const domain = config.domain;
/** This tab's last account (survives a reload of this tab only). */
const TAB_JID = 'shared-bosh-demo:jid';
/** The account last used in any tab of this origin (a new tab attaches to it if it has a key). */
const LAST_JID = 'shared-bosh-demo:last-jid';

const demo = {
  status: 'disconnected',
  jid: '',
  sid: '',
  result: '',
  resumed: false,
  boshUrl,
  /** Every log line: { kind: live|echo|replay|sent|info, name, type, from, to, id, body, text, at } */
  entries: [],
  error: '',
  client: undefined,
  connect,
  send: sendMessage,
  leave,
};
window.demo = demo;

let client;
let keyShare;
const debug = params.has('debug') ? (line) => console.debug(line) : () => {};

// --- rendering ---

function render() {
  $('status').textContent = demo.status + (demo.error ? ` (${demo.error})` : '');
  $('jid-value').textContent = demo.jid;
  $('sid').textContent = demo.sid;
  $('result').textContent = demo.result;
  $('resumed').textContent = demo.status === 'connected' ? String(demo.resumed) : '';
  $('bosh').textContent = boshUrl;
  const connected = demo.status === 'connected';
  $('connect').disabled = demo.status !== 'disconnected';
  $('leave').disabled = !connected;
  $('close-all').disabled = !connected;
  $('send').disabled = !connected;
  document.title = `${connected ? demo.jid.split('/')[0] : 'shared-bosh demo'} (${demo.status})`;
}

function addEntry(entry) {
  const full = { at: Date.now(), ...entry };
  demo.entries.push(full);
  const li = document.createElement('li');
  li.dataset.kind = full.kind;
  const badge = document.createElement('span');
  badge.className = `kind ${full.kind}`;
  badge.textContent = full.kind;
  li.append(badge, describe(full));
  if (full.xml) li.title = full.xml;
  $('log').append(li);
  li.scrollIntoView({ block: 'nearest' });
}

function describe(e) {
  if (e.kind === 'info') return e.text;
  const parts = [`<${e.name}${e.type ? ` type=${e.type}` : ''}>`];
  if (e.from) parts.push(`from ${e.from}`);
  if (e.to) parts.push(`to ${e.to}`);
  if (e.body !== undefined) parts.push(`: ${e.body}`);
  else if (e.name === 'presence' && e.show) parts.push(`(${e.show})`);
  return parts.join(' ');
}

function info(text) {
  addEntry({ kind: 'info', text });
}

function stanzaEntry(kind, el) {
  const body = el.elements().find((c) => c.localName === 'body');
  const show = el.elements().find((c) => c.localName === 'show');
  return {
    kind,
    name: el.localName,
    type: el.attrs.type,
    from: el.attrs.from,
    to: el.attrs.to,
    id: el.attrs.id,
    body: body ? textOf(body) : undefined,
    show: show ? textOf(show) : undefined,
    xml: el.toString(),
  };
}

// --- connecting ---

function bareOf(jid) {
  return jid.split('/')[0].toLowerCase();
}

/**
 * Connects this tab: resumes its saved session after a reload, else attaches with the key another
 * tab stored, else creates a link and logs in (needs the password). Tabs connect one at a time
 * (Web Locks), so a second tab opened at once finds the first tab's key instead of logging in too.
 */
async function connect(jid, password) {
  if (client && client.status !== 'disconnected') return;
  const bare = bareOf(jid);
  demo.error = '';
  keyShare?.close();
  keyShare = new BrowserKeyShare({ scope: `${bare} ${boshUrl}` });
  client = new SharedClient({
    storage: webStorage(sessionStorage),
    ...(params.has('debug') ? { log: debug } : {}),
  });
  demo.client = client;
  const c = client;
  c.on('status', (status) => {
    if (c !== client) return;
    if (status === 'connected') {
      // Also after a recovery inside the library (a resumed session found gone, then an attach).
      demo.jid = c.jid;
      demo.result = c.result ?? '';
      demo.resumed = c.resumed;
    }
    demo.status = status;
    demo.sid = c.sid ?? demo.sid;
    render();
  });
  c.on('stanza', ({ element, kind }) => {
    if (c === client) addEntry(stanzaEntry(kind, element));
  });
  c.on('gap', ({ since }) => info(`events after seq ${since} are lost (gap)`));
  c.on('disconnected', ({ error }) => {
    if (c !== client) return;
    demo.sid = '';
    demo.error = error ? error.message : '';
    info(error ? `disconnected: ${error.message}` : 'disconnected');
    render();
  });
  sessionStorage.setItem(TAB_JID, bare);
  localStorage.setItem(LAST_JID, bare);
  const run = () => {
    debug('demo: connecting');
    return c.connect({
      url: boshUrl,
      domain,
      jid: bare,
      ...(password ? { password } : {}),
      keyShare,
      wait: 30,
    });
  };
  try {
    debug(navigator.locks ? 'demo: waiting for the connect lock' : 'demo: no Web Locks');
    const res = navigator.locks ? await navigator.locks.request('shared-bosh-demo:connect', run) : await run();
    demo.jid = res.jid;
    demo.sid = res.sid;
    demo.result = res.result;
    demo.resumed = res.resumed;
    demo.status = c.status;
    info(
      res.resumed
        ? `resumed this tab's session (sid ${res.sid}, ${res.result}): no new login`
        : res.result === 'created'
          ? `created the link and logged in as ${res.jid}`
          : res.result === 'attached'
            ? `attached to the link of ${res.jid}: no login${res.gap ? ' (some history is lost)' : ''}`
            : `unshared session as ${res.jid}`,
    );
    if (res.result === 'created' && !res.resumed) {
      // Initial presence, so that messages to the bare JID reach the link.
      c.send(xml('presence', {}));
    }
    render();
  } catch (err) {
    if (c !== client) return;
    demo.status = 'disconnected';
    demo.error = err instanceof ConnectError && err.code === 'credentials-required' ? 'password needed: no tab is connected' : err.message;
    info(`connect failed: ${demo.error}`);
    sessionStorage.removeItem(TAB_JID);
    render();
    $('password').focus();
  }
}

function sendMessage(to, text) {
  if (!client || client.status !== 'connected') throw new Error('not connected');
  const id = `demo-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const el = xml('message', { to, type: 'chat', id }, xml('body', {}, text));
  client.send(el);
  addEntry(stanzaEntry('sent', el));
  return id;
}

async function leave(closeAll = false) {
  if (!client) return;
  sessionStorage.removeItem(TAB_JID);
  await client.disconnect(closeAll ? { closeAll: true } : {});
}

// --- UI ---

const lastJid = sessionStorage.getItem(TAB_JID) || localStorage.getItem(LAST_JID) || '';
$('jid').value = params.get('jid') || lastJid || config.users[0]?.jid || `alice@${domain}`;
$('password').value = params.get('password') || '';
$('users').textContent = config.users.length ? `demo users: ${config.users.map((u) => `${u.jid} / ${u.password}`).join(', ')}` : '';
const suggestTo = () => {
  const me = bareOf($('jid').value);
  return config.users.map((u) => u.jid).find((j) => j !== me) || '';
};
$('to').value = params.get('to') || suggestTo();

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void connect($('jid').value.trim(), $('password').value);
});
$('leave').addEventListener('click', () => void leave(false));
$('close-all').addEventListener('click', () => void leave(true));
$('compose').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('text').value;
  if (!text) return;
  try {
    sendMessage($('to').value.trim(), text);
    $('text').value = '';
  } catch (err) {
    info(`not sent: ${err.message}`);
  }
});

// A reload (or a closed tab) stops locally and keeps the saved session: the next page resumes it.
addEventListener('pagehide', () => {
  if (client && client.status === 'connected') client.detach();
});

render();

// Connect at once: when asked to (?connect=1), after a reload of a connected tab, or when another
// tab of this origin holds a key for the last account (attach, no password needed).
const autoJid = params.has('connect') ? $('jid').value : sessionStorage.getItem(TAB_JID) || undefined;
if (autoJid) {
  void connect(autoJid, $('password').value);
} else if (lastJid && new BrowserKeyShare({ scope: `${lastJid} ${boshUrl}`, channel: null, events: null }).get()) {
  void connect(lastJid, '');
}
