// Starts Converse.js with the settings of the URL (jid, password, bosh; shared=1 adds the Shared
// BOSH plugin as docs/client.md shows) and exposes what the tests read as `window.probe`.
// Converse itself is not changed: a small Converse plugin only hands `_converse` to the page.
const params = new URLSearchParams(location.search);
const jid = params.get('jid');
const bosh = params.get('bosh');

const probe = { events: [], ready: false, converse: undefined };
window.probe = probe;

if (params.get('shared') === '1') {
  const { installSharedBosh } = await import('/lib/client/strophe-plugin.js');
  const { BrowserKeyShare } = await import('/lib/client/index.js');
  installSharedBosh(converse.env.Strophe, {
    autoKey: true,
    keyShare: new BrowserKeyShare({ scope: `${jid} ${bosh}` }),
    // The tests set a long hold: the snapshot must then come with Converse's initial presence.
    ...(params.has('hold') ? { snapshotHoldMs: Number(params.get('hold')) } : {}),
  });
}

converse.plugins.add('probe', {
  initialize() {
    const _converse = this._converse;
    probe.converse = _converse;
    const api = _converse.api;
    for (const name of ['connected', 'reconnected', 'disconnected', 'will-reconnect']) {
      api.listen.on(name, () => probe.events.push({ name, at: Date.now() }));
    }
  },
});

const conn = () => probe.converse?.api.connection.get();

/** What the tests read: connection state, and whether this load restored a saved session. */
probe.state = () => {
  const c = conn();
  return {
    connected: !!probe.converse?.api.connection.connected(),
    restored: !!c?.restored,
    authenticated: !!c?.authenticated,
    jid: c?.jid ?? '',
    sid: c?._proto?.sid ?? '',
    shared: c?.sharedBosh?.result ?? '',
    events: probe.events.map((e) => e.name),
  };
};

/** 'online', 'away', ... or 'offline' as Converse shows the contact; 'no-contact' before the roster. */
probe.contactStatus = (contact) => probe.converse?.state.roster?.get(contact)?.getStatus() ?? 'no-contact';

/** Sends a chat message through Converse's own API (as the message form does). */
probe.send = async (to, body) => {
  const chat = await probe.converse.api.chats.open(to);
  await chat.sendMessage({ body });
};

/** The [sender, body] pairs of the chat with `contact` ('me' or 'them'). */
probe.messages = async (contact) => {
  const chat = await probe.converse?.api.chats.get(contact);
  return chat ? chat.messages.map((m) => [m.get('sender'), m.get('body') ?? null]) : [];
};

await converse.initialize({
  bosh_service_url: bosh,
  jid,
  password: params.get('password'),
  auto_login: true,
  discover_connection_methods: false,
  assets_path: '/converse/',
  view_mode: 'fullscreen',
  whitelisted_plugins: ['probe'],
  loglevel: 'warn',
  i18n: 'en',
  play_sounds: false,
  show_desktop_notifications: false,
});
probe.ready = true;
