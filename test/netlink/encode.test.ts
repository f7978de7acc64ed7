// Message encodings checked byte for byte / structurally, without a kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { flagAttr, nest, parseAttrList, parseAttrs, readString, readU32, strAttr, u32Attr } from '../../src/netlink/attrs';
import { encodeFeaturesSet, parseVerboseBitset, TX_CHECKSUM_FEATURES } from '../../src/netlink/ethtool';
import { encodeVethLinkInfo, formatMac, LinkManager, parseMac } from '../../src/netlink/links';

const skip = endianness() !== 'LE' && 'expected bytes are little-endian';
/** Hex dump with `//` comments to bytes. */
const bytes = (s: string): Buffer => Buffer.from(s.replace(/\/\/.*$/gm, '').replace(/\s+/g, ''), 'hex');

test('veth IFLA_LINKINFO payload with peer name, MTU and MAC', { skip }, () => {
  const expected = bytes(`
    09 00 01 00  76 65 74 68 00 00 00 00              // IFLA_INFO_KIND "veth\\0" + 3 pad
    3c 00 02 80                                       // IFLA_INFO_DATA | NLA_F_NESTED, 60 bytes
      38 00 01 00                                     // VETH_INFO_PEER, 56 bytes
        00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00   // struct ifinfomsg, zeroed
        0d 00 03 00  6f 63 6e 63 70 65 65 72 00 00 00 00  // IFLA_IFNAME "ocncpeer\\0" + 3 pad
        08 00 04 00  aa 05 00 00                      // IFLA_MTU 1450
        0a 00 01 00  02 42 ac 11 00 02 00 00          // IFLA_ADDRESS + 2 pad
  `);
  const got = encodeVethLinkInfo({ name: 'ocncpeer', mtu: 1450, mac: '02:42:ac:11:00:02' });
  assert.equal(got.toString('hex'), expected.toString('hex'));
  assert.equal(got.length, 72);
});

test('veth IFLA_LINKINFO without optional peer attributes', { skip }, () => {
  const got = encodeVethLinkInfo({ name: 'p' });
  const data = parseAttrs(got);
  assert.equal(readString(data.get(1) as Buffer), 'veth');
  const peer = parseAttrs(data.get(2) as Buffer).get(1) as Buffer;
  assert.deepEqual(peer.subarray(0, 16), Buffer.alloc(16));
  assert.deepEqual([...parseAttrs(peer.subarray(16)).keys()], [3]); // only IFLA_IFNAME
});

test('MAC parsing and formatting', () => {
  assert.deepEqual(parseMac('02:42:AC:11:00:02'), Buffer.from([2, 0x42, 0xac, 0x11, 0, 2]));
  assert.equal(formatMac(Buffer.from([2, 0x42, 0xac, 0x11, 0, 2])), '02:42:ac:11:00:02');
  for (const bad of ['', '02:42:ac:11:00', '02-42-ac-11-00-02', '02:42:ac:11:00:0g', '2:42:ac:11:00:02']) {
    assert.throws(() => parseMac(bad), /invalid MAC/, bad);
  }
});

test('LinkManager validates arguments before touching the kernel', async () => {
  const m = new LinkManager(); // no socket is opened by these calls
  const einval = (e: unknown): boolean => (e as { code?: string }).code === 'EINVAL';
  await assert.rejects(m.createVethPair({ name: 'x'.repeat(16), peerName: 'ok', mtu: 1500 }), einval);
  await assert.rejects(m.createVethPair({ name: 'ok', peerName: 'a b', mtu: 1500 }), einval);
  await assert.rejects(m.createVethPair({ name: 'same', peerName: 'same', mtu: 1500 }), einval);
  await assert.rejects(m.createVethPair({ name: 'a', peerName: 'b', mtu: 67 }), einval);
  await assert.rejects(m.createVethPair({ name: 'a', peerName: 'b', mtu: 1500.5 }), einval);
  await assert.rejects(m.createVethPair({ name: 'a', peerName: 'b', mtu: 1500, peerMac: 'zz' }), einval);
  await assert.rejects(m.deleteLink('..'), einval);
  await assert.rejects(m.getLink('a/b'), einval);
  await assert.rejects(m.setMtu('a', 70000), einval);
  await assert.rejects(m.addAddress('a', '10.0.0.1'), einval); // no prefix length
  await assert.rejects(m.addAddress('a', '10.1/8'), einval); // not a strict dotted quad
  await assert.rejects(m.addAddress('a', '10.0.0.1/33'), einval);
  await assert.rejects(m.addAddress('a', 'fd00::1/129'), einval);
  m.close();
});

test('ethtool FEATURES_SET: header with OMIT_REPLY, name-based WANTED bitset, no VALUE = clear', () => {
  const [hdr, wanted] = encodeFeaturesSet('ocnh0123456789a', { 'tx-checksum-ipv4': false, 'rx-gro': true });
  const h = parseAttrList(hdr)[0];
  assert.deepEqual([h.type, h.nested], [1, true]);
  const ha = parseAttrs(h.payload);
  assert.equal(readString(ha.get(2) as Buffer), 'ocnh0123456789a');
  assert.equal(readU32(ha.get(3) as Buffer), 1 << 1);
  const w = parseAttrList(wanted)[0];
  assert.deepEqual([w.type, w.nested], [3, true]); // ETHTOOL_A_FEATURES_WANTED
  const bitsetAttrs = parseAttrList(w.payload);
  assert.deepEqual(bitsetAttrs.map((a) => [a.type, a.nested]), [[3, true]]); // only BITS: no NOMASK, no SIZE
  const bits = parseAttrList(bitsetAttrs[0].payload);
  assert.ok(bits.every((b) => b.type === 1 && b.nested));
  assert.deepEqual(
    bits.map((b) => {
      const a = parseAttrs(b.payload);
      return [readString(a.get(2) as Buffer), a.has(3)];
    }),
    [['tx-checksum-ipv4', false], ['rx-gro', true]],
  );
  assert.deepEqual([...TX_CHECKSUM_FEATURES].sort(), [
    'tx-checksum-fcoe-crc', 'tx-checksum-ip-generic', 'tx-checksum-ipv4', 'tx-checksum-ipv6', 'tx-checksum-sctp',
  ]);
});

test('verbose bitset parsing: NOMASK lists set bits without VALUE; masked form uses VALUE', () => {
  const bit = (name: string, value?: boolean): Buffer =>
    nest(1, [u32Attr(1, 0), strAttr(2, name), ...(value ? [flagAttr(3)] : [])]);
  const noMask = Buffer.concat([flagAttr(1), u32Attr(2, 64), nest(3, [bit('highdma'), bit('rx-gro')])]);
  assert.deepEqual([...parseVerboseBitset(noMask)], [['highdma', true], ['rx-gro', true]]);
  const masked = Buffer.concat([u32Attr(2, 64), nest(3, [bit('highdma', true), bit('rx-gro')])]);
  assert.deepEqual([...parseVerboseBitset(masked)], [['highdma', true], ['rx-gro', false]]);
});
