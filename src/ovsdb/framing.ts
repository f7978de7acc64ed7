// Splits the OVSDB byte stream into JSON texts.
//
// ovsdb-server writes concatenated JSON objects with no delimiter, so the reader has to find where
// each one ends. We scan bytes, not characters: every structural character of JSON is ASCII and no
// byte of a multi-byte UTF-8 sequence is below 0x80, so a code point split across two chunks can
// never be mistaken for a brace or a quote. Decoding to a string happens once per complete message.
// Each byte is looked at exactly once (state survives between chunks), so a multi-megabyte monitor
// snapshot arriving in 64 KiB pieces costs O(n), not O(n^2).

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export class FramingError extends Error {
  override name = 'FramingError';
}

export class JsonSplitter {
  /** Pieces of the message in progress that arrived in earlier chunks. */
  private parts: Buffer[] = [];
  private partsLength = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  /** @param maxMessageBytes guard against a peer that never closes its object. */
  constructor(private readonly maxMessageBytes = 512 * 1024 * 1024) {}

  /** Feeds one chunk; returns the JSON texts it completed, in order. */
  push(chunk: Buffer): string[] {
    const out: string[] = [];
    let start = this.depth > 0 ? 0 : -1; // where the current message begins in this chunk
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      if (this.inString) {
        i = this.skipString(chunk, i);
        continue;
      }
      const b = chunk[i];
      if (b === QUOTE) {
        if (this.depth === 0) throw new FramingError('JSON string outside of an object');
        this.inString = true;
      } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        if (this.depth === 0) start = i;
        this.depth++;
      } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        if (this.depth === 0) throw new FramingError(`unbalanced '${String.fromCharCode(b)}' in stream`);
        if (--this.depth === 0) {
          out.push(this.take(chunk, start, i + 1));
          start = -1;
        }
      } else if (this.depth === 0 && b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) {
        // OVSDB messages are always objects; anything else between them means we lost sync.
        throw new FramingError(`unexpected byte 0x${b.toString(16)} between JSON messages`);
      }
    }
    if (this.depth > 0) {
      const rest = chunk.subarray(start);
      this.parts.push(rest);
      this.partsLength += rest.length;
      if (this.partsLength > this.maxMessageBytes) {
        throw new FramingError(`JSON message larger than ${this.maxMessageBytes} bytes`);
      }
    }
    return out;
  }

  /**
   * Inside a string starting at i: returns the index of the closing quote, or the last index of the
   * chunk if the string goes on. Most of OVSDB's bytes are in strings (uuids, names), so finding
   * the quote with the native indexOf instead of a byte-by-byte loop matters for big snapshots.
   */
  private skipString(chunk: Buffer, i: number): number {
    const n = chunk.length;
    if (this.escaped) {
      // the previous chunk ended with a backslash: this byte is escaped
      this.escaped = false;
      return i;
    }
    for (;;) {
      const q = chunk.indexOf(QUOTE, i);
      const end = q < 0 ? n : q;
      // A quote (or the chunk end) preceded by an odd run of backslashes is escaped.
      let k = end - 1;
      while (k >= i && chunk[k] === BACKSLASH) k--;
      const odd = (end - 1 - k) % 2 === 1;
      if (q < 0) {
        this.escaped = odd;
        return n - 1;
      }
      if (!odd) {
        this.inString = false;
        return q;
      }
      i = q + 1;
      if (i >= n) return n - 1;
    }
  }

  /** True when no partial message is buffered (useful at EOF to detect truncation). */
  get idle(): boolean {
    return this.depth === 0 && !this.inString;
  }

  reset(): void {
    this.parts = [];
    this.partsLength = 0;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
  }

  private take(chunk: Buffer, start: number, end: number): string {
    if (this.parts.length === 0) return chunk.toString('utf8', start, end);
    this.parts.push(chunk.subarray(start, end));
    const text = Buffer.concat(this.parts, this.partsLength + end - start).toString('utf8');
    this.parts = [];
    this.partsLength = 0;
    return text;
  }
}
