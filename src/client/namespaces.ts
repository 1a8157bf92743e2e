import {
  NS_BIND,
  NS_CLIENT,
  NS_HTTPBIND,
  NS_SASL,
  NS_SESSION,
  NS_SHARED,
  NS_STANZAS,
  NS_STREAMS,
  NS_XBOSH,
} from '../protocol/namespaces.js';

/** XML namespaces the client library speaks (the protocol ones from src/protocol/namespaces.ts). */
export const NS = {
  HTTPBIND: NS_HTTPBIND,
  XBOSH: NS_XBOSH,
  SHARED: NS_SHARED,
  CLIENT: NS_CLIENT,
  STREAM: NS_STREAMS,
  SASL: NS_SASL,
  BIND: NS_BIND,
  SESSION: NS_SESSION,
  STANZAS: NS_STANZAS,
  PUBSUB: 'http://jabber.org/protocol/pubsub',
  PUBSUB_ERRORS: 'http://jabber.org/protocol/pubsub#errors',
  PUBSUB_PUBLISH_OPTIONS: 'http://jabber.org/protocol/pubsub#publish-options',
  DATA_FORMS: 'jabber:x:data',
  DISCO_INFO: 'http://jabber.org/protocol/disco#info',
  PRIVATE: 'jabber:iq:private',
} as const;

/** The PEP node (XEP-0223) that holds the shared key; item id `current`. */
export const KEY_NODE = `${NS_SHARED}:key`;
