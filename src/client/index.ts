/**
 * The Shared BOSH client library (docs/client.md): a fetch-based BOSH transport, SASL
 * (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN), the SharedClient API, key generation and exchange.
 * No DOM in the core: XML goes through an XmlCodec (saxes in Node, DOMParser in browsers).
 * The Strophe.js plugin lives in './strophe-plugin.js'.
 */
export { Element } from '../xml/element.js';
export { xml, sharedAttr, attrNS, child, textOf, stripShared } from './xml.js';
export { NS, KEY_NODE } from './namespaces.js';
export { BoshError, SaslError, StanzaError, TimeoutError, type TerminalCondition, type SharedError } from './errors.js';
export { Emitter, type Listener } from './emitter.js';
export { type XmlCodec, DomXmlCodec, XmlParseError, domToElement, type DomParserLike } from './xml-codec.js';
export { defaultXmlCodec } from './default-codec.js';
export {
  BoshTransport,
  initialRid,
  terminalError,
  MAX_RID,
  type BoshTransportOptions,
  type CreateAttributes,
  type FetchLike,
  type TransportEvents,
  type TransportState,
  type TransportStatus,
} from './bosh-transport.js';
export { ScramClient, saslPrep, escapeUsername, MIN_ITERATIONS, type ScramHash } from './scram.js';
export { login, chooseMechanism, MECHANISMS, type LoginIo, type LoginOptions, type LoginResult, type Mechanism } from './login.js';
export { generateKey, isValidSharedKey, SHARED_KEY_PATTERN } from './shared-key.js';
export { MemoryStore, webStorage, type KeyValueStore, type WebStorageLike } from './storage.js';
export {
  BrowserKeyShare,
  PepKeyStore,
  PrivateXmlKeyStore,
  AutoKeyStore,
  type BrowserKeyShareOptions,
  type BroadcastChannelLike,
  type StorageEventTarget,
  type IqSender,
  type ServerKeyStore,
} from './key-exchange.js';
export {
  SharedClient,
  ConnectError,
  type SharedClientOptions,
  type SharedClientEvents,
  type ConnectOptions,
  type ConnectResult,
  type SharedResult,
  type StanzaKind,
  type StanzaEvent,
  type ClientStatus,
  type KeyExchange,
} from './shared-client.js';
