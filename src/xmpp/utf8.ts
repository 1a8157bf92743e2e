import { StringDecoder } from 'node:string_decoder';

/**
 * UTF-8 text from a byte stream split anywhere. A StringDecoder (a Buffer and an ArrayBuffer of
 * its own, ~230 bytes) exists only while a read has ended inside a character; reads that end
 * on a character boundary, nearly all of them, are decoded directly.
 */
export class Utf8Stream {
  private decoder: StringDecoder | undefined;

  write(data: Buffer): string {
    if (data.length === 0) return '';
    const complete = endsWithCompleteChar(data);
    if (this.decoder === undefined && complete) return data.toString('utf8');
    this.decoder ??= new StringDecoder('utf8');
    const text = this.decoder.write(data);
    // A read whose last character is whole leaves nothing in the decoder.
    if (complete) this.decoder = undefined;
    return text;
  }
}

/**
 * Whether `buf` ends with a whole character: its last byte is ASCII, or the lead byte of its
 * last character lies in `buf` with all the continuation bytes it announces. Only continuation
 * bytes at the end (the lead byte came in an earlier read) count as not whole.
 */
export function endsWithCompleteChar(buf: Buffer): boolean {
  const n = buf.length;
  if (n === 0 || buf[n - 1]! < 0x80) return true;
  for (let i = n - 1; i >= 0 && i >= n - 4; i--) {
    const b = buf[i]!;
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return n - i >= need;
  }
  return false;
}
