// Strophe.js 5 (npm strophe.js, its ESM build), no plugin: log in, restore() after a reload
// (keepalive), or attach(jid, sid, rid) with a saved session. `window.page` is for the tests.
import { Strophe, $msg, $pres } from '/strophe.esm.js';

const params = new URLSearchParams(location.search);
const bosh = params.get('bosh');

const page = { status: 'new', statuses: [], received: [], jid: '', sid: '' };
window.page = page;
let conn;

function statusName(status) {
  return Object.keys(Strophe.Status).find((k) => Strophe.Status[k] === status)?.toLowerCase() ?? String(status);
}

function onStatus(status, condition) {
  page.status = statusName(status);
  page.statuses.push(condition ? `${page.status}:${condition}` : page.status);
  if (status === Strophe.Status.CONNECTED || status === Strophe.Status.ATTACHED) {
    page.jid = conn.jid;
    page.sid = conn._proto.sid;
    conn.addHandler((el) => {
      const body = el.getElementsByTagName('body')[0];
      page.received.push({ name: el.nodeName, from: el.getAttribute('from'), type: el.getAttribute('type'), body: body ? body.textContent : null });
      return true;
    }, null, 'message');
  }
}

function connection() {
  conn = new Strophe.Connection(bosh, { keepalive: true });
  return conn;
}

page.connect = (jid, password) => {
  connection().connect(jid, password, onStatus);
};

/** Strophe's own session restore (keepalive: sid and rid from sessionStorage). */
page.restore = (jid) => {
  try {
    connection().restore(jid, onStatus);
    return 'restoring';
  } catch (err) {
    return `not restorable: ${err.name}`;
  }
};

page.attach = (jid, sid, rid) => {
  connection().attach(jid, sid, rid, onStatus);
};

/** Stops sending (as a page about to go away) and returns what attach() needs. */
page.save = () => {
  conn.pause();
  return { jid: conn.jid, sid: conn._proto.sid, rid: conn._proto.rid };
};

page.presence = () => conn.send($pres());

page.send = (to, text) => {
  conn.send($msg({ to, type: 'chat' }).c('body').t(text));
  conn.flush();
};
