import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { FramingError, JsonSplitter } from '../../src/ovsdb/framing';

const messages: unknown[] = [
  { id: 1, method: 'echo', params: [] },
  { id: null, method: 'update2', params: ['m', { T: { u: { modify: { s: 'a}b{c]"[' } } } }] },
  { id: 2, result: [{ rows: [{ name: 'esc \\" quote \\\\ backslash \\\\" } {' }] }], error: null },
  { id: 3, result: { text: 'héllo wörld ☃ 🚀 日本語' }, error: null },
  { id: 4, result: [[], {}, [[[{}]]]], error: null },
];
const stream = Buffer.from(messages.map((m) => JSON.stringify(m)).join(''));

function splitAll(chunks: Buffer[]): unknown[] {
  const s = new JsonSplitter();
  const out: unknown[] = [];
  for (const c of chunks) for (const t of s.push(c)) out.push(JSON.parse(t));
  assert.ok(s.idle);
  return out;
}

describe('JsonSplitter', () => {
  it('splits many messages delivered in one chunk', () => {
    assert.deepEqual(splitAll([stream]), messages);
  });

  it('splits correctly at every byte boundary (incl. inside UTF-8 sequences and escapes)', () => {
    for (let i = 0; i <= stream.length; i++) {
      assert.deepEqual(splitAll([stream.subarray(0, i), stream.subarray(i)]), messages, `split at ${i}`);
    }
  });

  it('handles one byte at a time', () => {
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1));
    assert.deepEqual(splitAll(chunks), messages);
  });

  it('decodes a multi-byte character split across chunks', () => {
    const buf = Buffer.from(JSON.stringify({ s: '🚀' }));
    const at = buf.indexOf(0xf0) + 2; // in the middle of the 4-byte sequence
    assert.deepEqual(splitAll([buf.subarray(0, at), buf.subarray(at)]), [{ s: '🚀' }]);
  });

  it('ignores whitespace between messages', () => {
    assert.deepEqual(splitAll([Buffer.from(' {"a":1}\n\r\t {"b":[2]} ')]), [{ a: 1 }, { b: [2] }]);
  });

  it('rejects garbage between messages', () => {
    assert.throws(() => new JsonSplitter().push(Buffer.from('{"a":1}x')), FramingError);
    assert.throws(() => new JsonSplitter().push(Buffer.from('}')), FramingError);
  });

  it('is linear on a large message arriving in small chunks', (t) => {
    const rows: Record<string, unknown> = {};
    for (let i = 0; i < 20000; i++) rows[`uuid-${i}`] = { initial: { name: `port${i}`, external_ids: ['map', [['k', '{"v"}']]] } };
    const big = Buffer.from(JSON.stringify({ id: 9, result: { Port: rows }, error: null }));
    const s = new JsonSplitter();
    const t0 = process.hrtime.bigint();
    let got: string[] = [];
    for (let i = 0; i < big.length; i += 4096) got = got.concat(s.push(big.subarray(i, i + 4096)));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(got.length, 1);
    assert.equal(got[0].length, big.length);
    t.diagnostic(`split ${(big.length / 1e6).toFixed(1)} MB in 4 KiB chunks: ${ms.toFixed(1)} ms`);
  });
});
