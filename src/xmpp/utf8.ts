import { isUtf8 } from 'node:buffer';

/**
 * UTF-8 text from a byte stream split anywhere, checked: RFC 6120 §11.6 requires UTF-8, and an
 * invalid sequence is the peer's error (§4.9.3.22 `unsupported-encoding`), not text to repair
 * with U+FFFD. Up to three bytes of a character cut by the end of a read wait for the next read;
 * reads that end on a character boundary, nearly all of them, are checked and decoded directly.
 */
export class Utf8Stream {
  /** The start of a character cut by the end of the previous read (undefined: none). */
  private pending: Buffer | undefined;

  /** The text of `data`, or undefined when the bytes so far are not UTF-8. */
  write(data: Buffer): string | undefined {
    if (this.pending !== undefined) {
      data = Buffer.concat([this.pending, data]);
      this.pending = undefined;
    }
    const whole = data.length - incompleteTail(data);
    if (whole < data.length) {
      // A copy outside Node's shared pool: a view would pin the whole read, a pooled copy a slab.
      this.pending = Buffer.allocUnsafeSlow(data.length - whole);
      data.copy(this.pending, 0, whole);
      data = data.subarray(0, whole);
    }
    if (data.length === 0) return '';
    return isUtf8(data) ? data.toString('utf8') : undefined;
  }
}

/**
 * How many bytes at the end of `buf` begin a multi-byte character that the buffer cuts short
 * (0..3): a lead byte among the last three bytes, followed by fewer continuation bytes than it
 * announces. Anything else (including invalid bytes) is left for the UTF-8 check.
 */
export function incompleteTail(buf: Buffer): number {
  const n = buf.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const b = buf[i]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 1;
    return n - i < need ? n - i : 0;
  }
  return 0;
}
