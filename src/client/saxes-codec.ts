import { SaxesParser } from 'saxes';
import { Element, serialize } from '../xml/element.js';
import { finishBody, XmlParseError, type XmlCodec } from './xml-codec.js';

/** The Node codec: saxes (strict XML 1.0, no DTD), attribute names kept literally. */
export class SaxesXmlCodec implements XmlCodec {
  parseBody(text: string): Element {
    const parser = new SaxesParser({ position: false });
    const stack: Element[] = [];
    let root: Element | undefined;
    let failure: string | undefined;
    parser.on('error', (err) => void (failure ??= err.message));
    parser.on('doctype', () => void (failure ??= 'DTD not allowed'));
    parser.on('opentag', (tag) => {
      const el = new Element(tag.name, { ...(tag.attributes as Record<string, string>) });
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(el);
      else root = el;
      stack.push(el);
    });
    parser.on('closetag', () => void stack.pop());
    const onText = (t: string) => {
      const parent = stack[stack.length - 1];
      if (parent && parent !== root) parent.children.push(t);
    };
    parser.on('text', onText);
    parser.on('cdata', onText);
    try {
      parser.write(text).close();
    } catch (err) {
      failure ??= (err as Error).message;
    }
    if (failure !== undefined) throw new XmlParseError(failure);
    return finishBody(root);
  }

  serialize(el: Element): string {
    return serialize(el);
  }
}
