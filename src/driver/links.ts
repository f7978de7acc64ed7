// The link operations the driver needs (implemented over rtnetlink in src/netlink), kept as an
// interface so pure driver logic can be unit-tested with a fake.
import type { LinkInfo } from '../netlink/links';
export type { LinkInfo };

export interface LinkOps {
  createVethPair(o: { name: string; peerName: string; mtu: number; peerMac?: string; noArp?: boolean }): Promise<void>;
  deleteLink(name: string): Promise<boolean>;
  getLink(name: string): Promise<LinkInfo | undefined>;
  listLinks(): Promise<LinkInfo[]>;
  setUp(name: string): Promise<void>;
  setAlias(name: string, alias: string): Promise<void>;
  setMtu(name: string, mtu: number): Promise<void>;
  setMac(name: string, mac: string): Promise<void>;
  addAddress(name: string, cidr: string): Promise<void>;
  waitForLink(name: string, timeoutMs: number): Promise<LinkInfo>;
  disableTxChecksum(name: string): Promise<void>;
}
