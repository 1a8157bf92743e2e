/** XML namespaces the client library speaks. */
export const NS = {
  HTTPBIND: 'http://jabber.org/protocol/httpbind',
  XBOSH: 'urn:xmpp:xbosh',
  SHARED: 'urn:xmpp:tmp:shared-bosh:0',
  CLIENT: 'jabber:client',
  STREAM: 'http://etherx.jabber.org/streams',
  SASL: 'urn:ietf:params:xml:ns:xmpp-sasl',
  BIND: 'urn:ietf:params:xml:ns:xmpp-bind',
  SESSION: 'urn:ietf:params:xml:ns:xmpp-session',
  STANZAS: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  PUBSUB: 'http://jabber.org/protocol/pubsub',
  PUBSUB_ERRORS: 'http://jabber.org/protocol/pubsub#errors',
  PUBSUB_PUBLISH_OPTIONS: 'http://jabber.org/protocol/pubsub#publish-options',
  DATA_FORMS: 'jabber:x:data',
  DISCO_INFO: 'http://jabber.org/protocol/disco#info',
  PRIVATE: 'jabber:iq:private',
} as const;

/** The PEP node (XEP-0223) that holds the shared key; item id `current`. */
export const KEY_NODE = 'urn:xmpp:tmp:shared-bosh:0:key';
