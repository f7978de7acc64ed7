import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import {
  attr,
  flagAttr,
  nest,
  NLA_F_NESTED,
  parseAttrList,
  parseAttrs,
  readString,
  readU32,
  strAttr,
  u16Attr,
  u32Attr,
} from '../../src/netlink/attrs';

// Expected bytes are written for little-endian hosts (x86-64, arm64).
const skip = endianness() !== 'LE' && 'expected bytes are little-endian';
const hex = (b: Buffer): string => b.toString('hex').replace(/(..)/g, '$1 ').trim();

test('attr: header is length (without padding) + type, payload padded to 4 bytes', { skip }, () => {
  assert.equal(hex(attr(1, Buffer.from('ab'))), '06 00 01 00 61 62 00 00');
  assert.equal(hex(attr(7, Buffer.from('abcd'))), '08 00 07 00 61 62 63 64'); // aligned: no padding
  assert.equal(hex(attr(2, Buffer.from('abcde'))), '09 00 02 00 61 62 63 64 65 00 00 00');
});

test('scalar, string and flag attributes', { skip }, () => {
  assert.equal(hex(u32Attr(4, 1450)), '08 00 04 00 aa 05 00 00');
  assert.equal(hex(u16Attr(4, 0x1234)), '06 00 04 00 34 12 00 00');
  assert.equal(hex(strAttr(3, 'eth0')), '09 00 03 00 65 74 68 30 00 00 00 00'); // NUL-terminated
  assert.equal(hex(flagAttr(3)), '04 00 03 00');
});

test('nest: NLA_F_NESTED set, length covers the padded children', { skip }, () => {
  const n = nest(2, [attr(1, Buffer.from('a')), flagAttr(3)]);
  // child 1: 05 00 01 00 61 + 3 pad = 8 bytes; child 2: 4 bytes -> nest length 4 + 12 = 16
  assert.equal(hex(n), '10 00 02 80 05 00 01 00 61 00 00 00 04 00 03 00');
  assert.equal(n.readUInt16LE(2) & NLA_F_NESTED, NLA_F_NESTED);
  const deep = nest(1, [nest(3, [nest(1, [u32Attr(1, 4)])])]);
  assert.equal(hex(deep), '14 00 01 80 10 00 03 80 0c 00 01 80 08 00 01 00 04 00 00 00');
  assert.equal(hex(nest(1, [])), '04 00 01 80');
});

test('parseAttrList / parseAttrs: round trip, flags stripped, repeated types kept in order', () => {
  const buf = Buffer.concat([
    strAttr(2, 'tx-checksum-ipv4'),
    nest(1, [u32Attr(1, 7), u32Attr(1, 9)]),
    attr(5, Buffer.from('xyz')),
    u32Attr(5, 42),
  ]);
  const list = parseAttrList(buf);
  assert.deepEqual(
    list.map((a) => [a.type, a.nested]),
    [[2, false], [1, true], [5, false], [5, false]],
  );
  assert.equal(readString(list[0].payload), 'tx-checksum-ipv4');
  assert.deepEqual(parseAttrList(list[1].payload).map((a) => readU32(a.payload)), [7, 9]);
  assert.equal(list[2].payload.toString(), 'xyz'); // padding not part of the payload
  const m = parseAttrs(buf);
  assert.equal(readU32(m.get(5) as Buffer), 42); // last wins
  assert.deepEqual(parseAttrList(Buffer.alloc(0)), []);
});

test('decoder rejects truncated attributes', () => {
  assert.throws(() => parseAttrList(Buffer.from([0x08, 0x00, 0x01, 0x00, 0x01])), /malformed/);
  assert.throws(() => parseAttrList(Buffer.from([0x02, 0x00, 0x01, 0x00])), /malformed/);
});

test('encoder rejects out-of-range types and oversized payloads', () => {
  assert.throws(() => attr(-1), RangeError);
  assert.throws(() => attr(0x4000), RangeError); // would collide with the flag bits
  assert.throws(() => nest(1.5, []), RangeError);
  assert.throws(() => attr(1, Buffer.alloc(0xffff)), /too long/);
});

test('readString stops at NUL, tolerates a missing terminator', () => {
  assert.equal(readString(Buffer.from('abc\0\0')), 'abc');
  assert.equal(readString(Buffer.from('abc')), 'abc');
});
