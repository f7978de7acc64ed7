// DHCP_Options rows: OVN answers DHCP itself (router, DNS, lease time, domain, MTU).
import type { Operation, Row } from '../ovsdb/types';
import type { Db } from '../ovs/db';
import { byUuid, map } from '../ovs/wire';
import { KEY } from '../model/owner-ids';
import { type NbRow, nbOwnedRows, owner } from './nb';

export const DHCP = 'DHCP_Options';

export interface DhcpSpec {
  cidr: string;
  router?: string;
  serverMac: string;
  serverId: string;
  dns: string[];
  leaseTime: number;
  domain?: string;
  mtu: number;
}

/** The ids of a switch's DHCP options: ours, and which switch they serve. */
export function dhcpIds(switchName: string): Record<string, string> {
  return owner('dhcp', { [KEY.switch]: switchName });
}

export function findDhcp(nb: Db, switchName: string): NbRow<'DHCP_Options'> | undefined {
  return nbOwnedRows(nb, DHCP, 'dhcp').find((r) => r.external_ids[KEY.switch] === switchName);
}

export function dhcpOptions(s: DhcpSpec): Record<string, string> {
  const o: Record<string, string> = {
    lease_time: String(s.leaseTime),
    server_id: s.serverId,
    server_mac: s.serverMac,
    mtu: String(s.mtu),
  };
  if (s.router) o.router = s.router;
  if (s.dns.length) o.dns_server = s.dns.length === 1 ? s.dns[0] : `{${s.dns.join(', ')}}`;
  if (s.domain) o.domain_name = `"${s.domain}"`;
  return o;
}

export function createDhcpOps(switchName: string, s: DhcpSpec, uuidName = 'newdhcp'): Operation[] {
  return [{ op: 'insert', table: DHCP, 'uuid-name': uuidName, row: { cidr: s.cidr, options: map(dhcpOptions(s)), external_ids: map(dhcpIds(switchName)) } }];
}

export function deleteDhcpOps(row: Row | undefined): Operation[] {
  return row ? [{ op: 'delete', table: DHCP, where: byUuid(row._uuid) }] : [];
}
