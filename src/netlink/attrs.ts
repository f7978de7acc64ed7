// Netlink attribute (TLV) encoding and decoding.
//
// The `netlink` package formats the attributes it has typings for, but not the nested
// payloads we need (IFLA_LINKINFO for veth, every ethtool genetlink message), so this
// module builds them. One attribute is a 4-byte header (u16 length including the header,
// u16 type) followed by the payload, padded to a 4-byte boundary. The length field
// excludes the padding; the next attribute starts at the aligned offset.
// All integers are in host byte order (netlink is not a wire protocol).

import { endianness } from 'os';

export const NLA_HDRLEN = 4;
export const NLA_ALIGNTO = 4;
/** Set on attributes whose payload is a list of attributes. Strictly validated
 *  genetlink families (ethtool) reject nests without it; rtnetlink ignores it. */
export const NLA_F_NESTED = 1 << 15;
export const NLA_F_NET_BYTEORDER = 1 << 14;
export const NLA_TYPE_MASK = 0xffff & ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

const LE = endianness() === 'LE';
const MAX_NLA_LEN = 0xffff;

export const nlaAlign = (n: number): number => (n + NLA_ALIGNTO - 1) & ~(NLA_ALIGNTO - 1);

/** One attribute with a raw payload (padding is added here, not by the caller). */
export function attr(type: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  if (!Number.isInteger(type) || type < 0 || type > NLA_TYPE_MASK) {
    throw new RangeError(`netlink attribute type out of range: ${type}`);
  }
  return encode(type, payload);
}

/** A nested attribute (payload = the children, each already padded) with NLA_F_NESTED. */
export function nest(type: number, children: readonly Uint8Array[]): Buffer {
  if (!Number.isInteger(type) || type < 0 || type > NLA_TYPE_MASK) {
    throw new RangeError(`netlink attribute type out of range: ${type}`);
  }
  return encode(type | NLA_F_NESTED, Buffer.concat(children));
}

function encode(typeField: number, payload: Uint8Array): Buffer {
  const len = NLA_HDRLEN + payload.length;
  if (len > MAX_NLA_LEN) throw new RangeError(`netlink attribute too long: ${len} bytes`);
  const out = Buffer.alloc(nlaAlign(len)); // zero-filled, so the padding is zeros
  writeU16(out, len, 0);
  writeU16(out, typeField, 2);
  out.set(payload, NLA_HDRLEN);
  return out;
}

export const u8Attr = (type: number, v: number): Buffer => attr(type, Buffer.of(v));
export const u16Attr = (type: number, v: number): Buffer => attr(type, u16(v));
export const u32Attr = (type: number, v: number): Buffer => attr(type, u32(v));
/** NUL-terminated string (NLA_NUL_STRING / IFNAMSIZ-style names). */
export const strAttr = (type: number, s: string): Buffer =>
  attr(type, Buffer.concat([Buffer.from(s, 'utf8'), Buffer.of(0)]));
/** NLA_FLAG: presence is the value. */
export const flagAttr = (type: number): Buffer => attr(type);

export function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  writeU16(b, v, 0);
  return b;
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(v, 0);
  else b.writeUInt32BE(v, 0);
  return b;
}

function writeU16(b: Buffer, v: number, off: number): void {
  if (LE) b.writeUInt16LE(v, off);
  else b.writeUInt16BE(v, off);
}

// ---- decoding ----

export interface RawAttr {
  /** Type without the NESTED / NET_BYTEORDER flag bits. */
  type: number;
  nested: boolean;
  payload: Buffer;
}

/** All attributes of a stream, in order (repeated types are kept: bitset bits, strings). */
export function parseAttrList(buf: Buffer): RawAttr[] {
  const out: RawAttr[] = [];
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = LE ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
    const typeField = LE ? buf.readUInt16LE(off + 2) : buf.readUInt16BE(off + 2);
    if (len < NLA_HDRLEN || off + len > buf.length) {
      throw new Error(`malformed netlink attribute at offset ${off} (len ${len}, ${buf.length} bytes)`);
    }
    out.push({
      type: typeField & NLA_TYPE_MASK,
      nested: (typeField & NLA_F_NESTED) !== 0,
      payload: buf.subarray(off + NLA_HDRLEN, off + len),
    });
    off += nlaAlign(len);
  }
  return out;
}

/** Attributes by type; for a repeated type the last one wins (kernel semantics). */
export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const a of parseAttrList(buf)) m.set(a.type, a.payload);
  return m;
}

export function readU32(payload: Buffer): number {
  if (payload.length < 4) throw new Error(`u32 attribute has ${payload.length} bytes`);
  return LE ? payload.readUInt32LE(0) : payload.readUInt32BE(0);
}

/** String payload up to the first NUL (the kernel NUL-terminates, but do not rely on it). */
export function readString(payload: Buffer): string {
  const nul = payload.indexOf(0);
  return payload.toString('utf8', 0, nul === -1 ? payload.length : nul);
}
