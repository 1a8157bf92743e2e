import type { Element } from '../xml/element.js';
import { SaslError, StanzaError } from './errors.js';
import { NS } from './namespaces.js';
import { decodeSaslData, encodeSaslData, ScramClient, type ScramHash } from './scram.js';
import { textToBase64 } from './base64.js';
import { child, textOf, xml } from './xml.js';

/** SASL mechanisms this library implements, best first. */
export const MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] as const;
export type Mechanism = (typeof MECHANISMS)[number];

/** What login() needs from the session: send, receive the next top-level element, restart. */
export interface LoginIo {
  send(el: Element): void;
  /** The next top-level element from the server (rejects on timeout or when the session ends). */
  next(): Promise<Element>;
  /** XEP-0206 §5: a restart request after SASL success. */
  restart(): void;
}

export interface LoginOptions {
  /** Bare or full JID; its local part is the SASL username (authcid). */
  jid: string;
  password: string;
  /** Resource to ask for in binding (RFC 6120 §7.7); the server chooses when absent. */
  resource?: string;
  /** Mechanisms allowed, in order of preference. @default MECHANISMS */
  mechanisms?: readonly Mechanism[];
  /** SCRAM client nonce (tests only). */
  scramNonce?: string;
  /** Id generator for the bind/session IQs. */
  id?: () => string;
}

export interface LoginResult {
  /** The full JID bound by the server. */
  jid: string;
  mechanism: Mechanism;
}

/** The mechanism we use: the first of `preference` that the server offers. */
export function chooseMechanism(offered: readonly string[], preference: readonly Mechanism[] = MECHANISMS): Mechanism | undefined {
  return preference.find((m) => offered.includes(m));
}

function isFeatures(el: Element): boolean {
  return el.localName === 'features';
}

async function nextFeatures(io: LoginIo): Promise<Element> {
  for (;;) {
    const el = await io.next();
    if (isFeatures(el)) return el;
  }
}

/**
 * RFC 6120 §6 and XEP-0206: SASL (best offered mechanism), stream restart, resource binding,
 * and a legacy session (RFC 3921 §3) when the server requires one. `features` is the first
 * `<stream:features/>` if the creation response carried it.
 */
export async function login(io: LoginIo, options: LoginOptions, features?: Element): Promise<LoginResult> {
  const first = features ?? (await nextFeatures(io));
  const mechanismsEl = child(first, 'mechanisms', NS.SASL, NS.STREAM);
  const offered = (mechanismsEl?.elements() ?? []).filter((m) => m.localName === 'mechanism').map((m) => textOf(m).trim());
  const mechanism = chooseMechanism(offered, options.mechanisms);
  if (!mechanism) throw new SaslError('invalid-mechanism', `no usable SASL mechanism among [${offered.join(', ')}]`);

  await authenticate(io, options, mechanism);

  io.restart();
  const after = await nextFeatures(io);
  const nextId = options.id ?? (() => 'bind-' + Math.random().toString(36).slice(2, 10));

  if (!child(after, 'bind', NS.BIND, NS.STREAM)) throw new SaslError('bind-not-offered', 'the server offers no resource binding');
  const bindId = nextId();
  io.send(
    xml('iq', { type: 'set', id: bindId, xmlns: NS.CLIENT },
      xml('bind', { xmlns: NS.BIND }, options.resource ? xml('resource', {}, options.resource) : null)),
  );
  const bound = await iqResult(io, bindId);
  const jidEl = child(child(bound, 'bind', NS.BIND) ?? bound, 'jid');
  const jid = jidEl ? textOf(jidEl).trim() : '';
  if (!jid) throw new SaslError('bind-failed', 'bind result without a JID');

  // RFC 3921 §3 session establishment; RFC 6121 made it optional (<optional/>).
  const session = child(after, 'session', NS.SESSION, NS.STREAM);
  if (session && !child(session, 'optional')) {
    const sessionId = nextId();
    io.send(xml('iq', { type: 'set', id: sessionId, xmlns: NS.CLIENT }, xml('session', { xmlns: NS.SESSION })));
    await iqResult(io, sessionId);
  }
  return { jid, mechanism };
}

async function iqResult(io: LoginIo, id: string): Promise<Element> {
  for (;;) {
    const el = await io.next();
    if (el.localName !== 'iq' || el.attrs.id !== id) continue;
    if (el.attrs.type === 'result') return el;
    throw stanzaError(el);
  }
}

/** The StanzaError of an `type='error'` stanza (RFC 6120 §8.3). */
export function stanzaError(el: Element): StanzaError {
  const error = child(el, 'error');
  const condition = error?.elements().find((c) => c.attrs.xmlns === NS.STANZAS)?.localName ?? 'undefined-condition';
  return new StanzaError(condition, error?.attrs.type ?? 'cancel', el);
}

async function authenticate(io: LoginIo, options: LoginOptions, mechanism: Mechanism): Promise<void> {
  const username = options.jid.includes('@') ? options.jid.slice(0, options.jid.indexOf('@')) : options.jid;
  let scram: ScramClient | undefined;
  let initial: string;
  if (mechanism === 'PLAIN') {
    // RFC 4616: [authzid] NUL authcid NUL passwd; no authzid (the server derives it).
    initial = textToBase64(`\u0000${username}\u0000${options.password}`);
  } else {
    const hash: ScramHash = mechanism === 'SCRAM-SHA-256' ? 'SHA-256' : 'SHA-1';
    scram = new ScramClient(hash, username, options.password, options.scramNonce);
    initial = encodeSaslData(scram.clientFirst());
  }
  io.send(xml('auth', { xmlns: NS.SASL, mechanism }, initial));

  let step = 0;
  for (;;) {
    const el = await io.next();
    switch (el.localName) {
      case 'challenge': {
        if (!scram) throw new SaslError('malformed-request', `unexpected challenge for ${mechanism}`);
        const data = decodeSaslData(textOf(el));
        if (step === 0) {
          step = 1;
          io.send(xml('response', { xmlns: NS.SASL }, encodeSaslData(await scram.clientFinal(data))));
        } else {
          // Some servers send server-final-message as a challenge, then an empty <success/>.
          scram.verifyServerFinal(data);
          io.send(xml('response', { xmlns: NS.SASL }));
        }
        break;
      }
      case 'success': {
        if (scram && !scram.verified) {
          const data = decodeSaslData(textOf(el));
          // RFC 5802 §5: without a verified server signature the server is not authenticated.
          if (data === '') throw new SaslError('server-signature-mismatch', 'SCRAM success without a server signature');
          scram.verifyServerFinal(data);
        }
        return;
      }
      case 'failure': {
        const condition = el.elements().find((c) => c.localName !== 'text')?.localName ?? 'not-authorized';
        const text = child(el, 'text');
        throw new SaslError(condition, text ? `${condition}: ${textOf(text)}` : condition);
      }
      default:
        // Not SASL (should not happen before binding); ignore.
        break;
    }
  }
}
