/**
 * XML namespaces of the protocols the CM and the client library speak: one definition of each,
 * imported by server, client, tests and bench. A leaf module (it imports nothing).
 */

/** XEP-0124: the `<body/>` wrapper. */
export const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind';
/** XEP-0206: `xmpp:version`, `xmpp:restart`, `xmpp:restartlogic`. */
export const NS_XBOSH = 'urn:xmpp:xbosh';
/** Shared BOSH (ProtoXEP): `shared:key`, `shared:result`, `shared:echo`, ... */
export const NS_SHARED = 'urn:xmpp:tmp:shared-bosh:0';
/** RFC 6120: the stream element and the `stream:` prefix. */
export const NS_STREAMS = 'http://etherx.jabber.org/streams';
/** RFC 6120 §4.9: stream error conditions. */
export const NS_STREAM_ERRORS = 'urn:ietf:params:xml:ns:xmpp-streams';
/** RFC 6120 §5: STARTTLS. */
export const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
/** RFC 6120 §6: SASL. */
export const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
/** RFC 6120 §7: resource binding. */
export const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
/** RFC 3921 session establishment (still offered by some servers). */
export const NS_SESSION = 'urn:ietf:params:xml:ns:xmpp-session';
/** RFC 6120 §8.3: stanza error conditions. */
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
/** RFC 6120 §4.8.3: the content namespace of client streams. */
export const NS_CLIENT = 'jabber:client';
/** XEP-0352: client state indication. */
export const NS_CSI = 'urn:xmpp:csi:0';
/** XEP-0199: XMPP ping. */
export const NS_PING = 'urn:xmpp:ping';
