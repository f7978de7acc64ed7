// Device features through the ethtool generic netlink family: `ethtool -K dev tx off`
// without a subprocess. A userspace (netdev) OVS bridge computes no checksums, so TCP
// over a kernel veth feeding it only works once tx checksum offload is off on that veth.

import { createGenericNetlink, formatGenlHeader, GENL_HEADER_LENGTH, GenericNetlinkSocket, genl } from './package';
import { flagAttr, nest, parseAttrList, parseAttrs, readString, readU32, strAttr, u32Attr } from './attrs';
import { assertIfName } from './names';
import { DumpExclusiveGate, nlRequest } from './request';

// linux/ethtool_netlink.h
const ETHTOOL_GENL_NAME = 'ethtool';
const ETHTOOL_GENL_VERSION = 1;
const ETHTOOL_MSG_STRSET_GET = 1;
const ETHTOOL_MSG_FEATURES_GET = 11;
const ETHTOOL_MSG_FEATURES_SET = 12;

const ETHTOOL_A_HEADER_DEV_NAME = 2;
const ETHTOOL_A_HEADER_FLAGS = 3;
const ETHTOOL_FLAG_OMIT_REPLY = 1 << 1;

const ETHTOOL_A_FEATURES_HEADER = 1;
const ETHTOOL_A_FEATURES_WANTED = 3;
const ETHTOOL_A_FEATURES_ACTIVE = 4;

const ETHTOOL_A_BITSET_NOMASK = 1;
const ETHTOOL_A_BITSET_BITS = 3;
const ETHTOOL_A_BITSET_BITS_BIT = 1;
const ETHTOOL_A_BITSET_BIT_NAME = 2;
const ETHTOOL_A_BITSET_BIT_VALUE = 3;

const ETHTOOL_A_STRSET_HEADER = 1;
const ETHTOOL_A_STRSET_STRINGSETS = 2;
const ETHTOOL_A_STRINGSETS_STRINGSET = 1;
const ETHTOOL_A_STRINGSET_ID = 1;
const ETHTOOL_A_STRINGSET_STRINGS = 3;
const ETHTOOL_A_STRINGS_STRING = 1;
const ETHTOOL_A_STRING_INDEX = 1;
const ETHTOOL_A_STRING_VALUE = 2;
const ETH_SS_FEATURES = 4;

/** What `ethtool -K dev tx off` clears: every feature named tx-checksum-*. */
export const TX_CHECKSUM_FEATURES: readonly string[] = [
  'tx-checksum-ipv4',
  'tx-checksum-ip-generic',
  'tx-checksum-ipv6',
  'tx-checksum-fcoe-crc',
  'tx-checksum-sctp',
];

/**
 * ETHTOOL_A_FEATURES_WANTED as a verbose (name-based) bitset without NOMASK: only the
 * listed bits change; a bit with the VALUE flag is set, one without it is cleared.
 */
export function encodeFeaturesSet(ifname: string, changes: Readonly<Record<string, boolean>>): Buffer[] {
  const bits = Object.entries(changes).map(([name, on]) =>
    nest(ETHTOOL_A_BITSET_BITS_BIT, [
      strAttr(ETHTOOL_A_BITSET_BIT_NAME, name),
      ...(on ? [flagAttr(ETHTOOL_A_BITSET_BIT_VALUE)] : []),
    ]),
  );
  return [
    header(ifname, ETHTOOL_FLAG_OMIT_REPLY), // only the ACK: we do not read the diff
    nest(ETHTOOL_A_FEATURES_WANTED, [nest(ETHTOOL_A_BITSET_BITS, bits)]),
  ];
}

function header(ifname: string, flags: number): Buffer {
  const attrs = [strAttr(ETHTOOL_A_HEADER_DEV_NAME, ifname)];
  if (flags) attrs.push(u32Attr(ETHTOOL_A_HEADER_FLAGS, flags));
  return nest(ETHTOOL_A_FEATURES_HEADER, attrs); // every ETHTOOL_A_*_HEADER is type 1
}

/**
 * Names of the bits listed in a verbose bitset, with whether each is set. With NOMASK the
 * kernel lists only the set bits and omits their VALUE flag; otherwise it lists the
 * masked bits and VALUE marks the set ones.
 */
export function parseVerboseBitset(bitset: Buffer): Map<string, boolean> {
  const out = new Map<string, boolean>();
  const attrs = parseAttrs(bitset);
  const noMask = attrs.has(ETHTOOL_A_BITSET_NOMASK);
  const bits = attrs.get(ETHTOOL_A_BITSET_BITS);
  if (!bits) return out;
  for (const bit of parseAttrList(bits)) {
    if (bit.type !== ETHTOOL_A_BITSET_BITS_BIT) continue;
    const a = parseAttrs(bit.payload);
    const name = a.get(ETHTOOL_A_BITSET_BIT_NAME);
    if (name) out.set(readString(name), noMask || a.has(ETHTOOL_A_BITSET_BIT_VALUE));
  }
  return out;
}

export class EthtoolClient {
  private sock?: GenericNetlinkSocket;
  private family?: Promise<number>;
  private featureNames?: Promise<string[]>;
  // No dumps here: the gate only bounds the replies in flight (many endpoints turn tx
  // checksum off at once, and the first calls all fire together once the family is known).
  private readonly gate = new DumpExclusiveGate();

  private socket(): GenericNetlinkSocket {
    if (!this.sock) {
      const s = createGenericNetlink(); // unreferenced while idle
      s.socket.on('error', () => {
        if (this.sock === s) this.close();
      });
      this.sock = s;
    }
    return this.sock;
  }

  close(): void {
    const s = this.sock;
    this.sock = undefined;
    this.family = undefined; // ids are stable, but re-resolve on a fresh socket anyway
    s?.socket.close();
  }

  /** The family id is assigned at boot/module load; resolve it once per socket. */
  private familyId(): Promise<number> {
    if (!this.family) {
      const p = this.gate
        .run(false, () => this.socket().ctrlRequest(genl.Commands.GET_FAMILY, { familyName: ETHTOOL_GENL_NAME }))
        .then((replies) => {
          const id = replies[0]?.familyId;
          if (id === undefined) throw new Error('no family id in reply');
          return id;
        })
        .catch((e: unknown) => {
          this.family = undefined; // let a later call retry
          const why = e instanceof Error ? e.message : String(e);
          throw new Error(`ethtool generic netlink family unavailable (kernel without ETHTOOL_NETLINK?): ${why}`);
        });
      this.family = p;
    }
    return this.family;
  }

  private async request(cmd: number, attrs: Buffer[], op: string): Promise<Buffer[]> {
    const family = await this.familyId();
    const hdr = formatGenlHeader({ cmd, version: ETHTOOL_GENL_VERSION });
    const replies = await this.gate.run(false, () => nlRequest(this.socket().socket, family, [hdr, ...attrs], 0, op));
    return replies.map((m) => m.data.subarray(GENL_HEADER_LENGTH));
  }

  /** Changes the named features (like `ethtool -K dev NAME on|off ...`). */
  async setFeatures(ifname: string, changes: Readonly<Record<string, boolean>>): Promise<void> {
    assertIfName(ifname);
    if (Object.keys(changes).length === 0) return;
    const desc = Object.entries(changes).map(([k, v]) => `${k} ${v ? 'on' : 'off'}`).join(', ');
    await this.request(ETHTOOL_MSG_FEATURES_SET, encodeFeaturesSet(ifname, changes), `ethtool ${ifname}: ${desc}`);
  }

  /**
   * `ethtool -K dev tx off`. The kernel then also drops what depends on checksum
   * offload (TSO and friends), exactly as it does for ethtool. A feature the device
   * cannot change is left as is, without error, as with ethtool.
   */
  async disableTxChecksum(ifname: string): Promise<void> {
    await this.setFeatures(ifname, Object.fromEntries(TX_CHECKSUM_FEATURES.map((f) => [f, false])));
  }

  /** Every feature the kernel knows (ETH_SS_FEATURES), true where active on `ifname`. */
  async getFeatures(ifname: string): Promise<Record<string, boolean>> {
    assertIfName(ifname);
    const [names, replies] = await Promise.all([
      this.allFeatureNames(),
      this.request(ETHTOOL_MSG_FEATURES_GET, [header(ifname, 0)], `ethtool ${ifname}: get features`),
    ]);
    const out: Record<string, boolean> = {};
    for (const n of names) if (n) out[n] = false;
    const active = replies[0] && parseAttrs(replies[0]).get(ETHTOOL_A_FEATURES_ACTIVE);
    if (!active) throw new Error(`ethtool ${ifname}: no active features in reply`);
    for (const [name, on] of parseVerboseBitset(active)) out[name] = on;
    return out;
  }

  /** Feature names are global (netdev_features_strings), so fetch them once. */
  private allFeatureNames(): Promise<string[]> {
    if (!this.featureNames) {
      const req = [
        // No device: the set is global. The header itself must be present (6.18 answers
        // EINVAL without it, although the uapi documents it as optional here).
        nest(ETHTOOL_A_STRSET_HEADER, []),
        nest(ETHTOOL_A_STRSET_STRINGSETS, [
          nest(ETHTOOL_A_STRINGSETS_STRINGSET, [u32Attr(ETHTOOL_A_STRINGSET_ID, ETH_SS_FEATURES)]),
        ]),
      ];
      this.featureNames = this.request(ETHTOOL_MSG_STRSET_GET, req, 'ethtool: feature names').then(
        parseFeatureStrings,
        (e: unknown) => {
          this.featureNames = undefined;
          throw e;
        },
      );
    }
    return this.featureNames;
  }
}

function parseFeatureStrings(replies: Buffer[]): string[] {
  const names: string[] = [];
  const sets = replies[0] && parseAttrs(replies[0]).get(ETHTOOL_A_STRSET_STRINGSETS);
  for (const set of sets ? parseAttrList(sets) : []) {
    if (set.type !== ETHTOOL_A_STRINGSETS_STRINGSET) continue;
    const s = parseAttrs(set.payload);
    const id = s.get(ETHTOOL_A_STRINGSET_ID);
    const strings = s.get(ETHTOOL_A_STRINGSET_STRINGS);
    if (!id || readU32(id) !== ETH_SS_FEATURES || !strings) continue;
    for (const str of parseAttrList(strings)) {
      if (str.type !== ETHTOOL_A_STRINGS_STRING) continue;
      const a = parseAttrs(str.payload);
      const index = a.get(ETHTOOL_A_STRING_INDEX);
      const value = a.get(ETHTOOL_A_STRING_VALUE);
      if (index && value) names[readU32(index)] = readString(value);
    }
  }
  if (names.length === 0) throw new Error('ethtool: kernel returned no feature names');
  return names;
}

// One process-wide client: one genetlink socket, family resolved once.
let shared: EthtoolClient | undefined;
const client = (): EthtoolClient => (shared ??= new EthtoolClient());

export const disableTxChecksum = (ifname: string): Promise<void> => client().disableTxChecksum(ifname);
export const getFeatures = (ifname: string): Promise<Record<string, boolean>> => client().getFeatures(ifname);
export const setFeatures = (ifname: string, changes: Readonly<Record<string, boolean>>): Promise<void> =>
  client().setFeatures(ifname, changes);
/** Closes the shared client's socket (a later call opens a new one). */
export function closeEthtool(): void {
  shared?.close();
  shared = undefined;
}
