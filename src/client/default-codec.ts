import { DomXmlCodec, type XmlCodec } from './xml-codec.js';

/**
 * Picks the codec for the platform at runtime. Its own module, so that the codecs do not import
 * each other: saxes-codec.ts builds on xml-codec.ts, and only this file knows both.
 */
let cached: Promise<XmlCodec> | undefined;

/** saxes under Node, the DOMParser elsewhere (browsers, workers). */
export function defaultXmlCodec(): Promise<XmlCodec> {
  cached ??= (async () => {
    const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
    if (typeof proc?.versions?.node === 'string') {
      const { SaxesXmlCodec } = await import('./saxes-codec.js');
      return new SaxesXmlCodec();
    }
    if (typeof (globalThis as { DOMParser?: unknown }).DOMParser === 'function') return new DomXmlCodec();
    throw new Error('no XML parser: pass an XmlCodec (DomXmlCodec with a DOMParser, or SaxesXmlCodec)');
  })();
  return cached;
}
