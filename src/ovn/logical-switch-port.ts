// Logical_Switch_Port rows: one per container endpoint, named after the endpoint id so a stale
// OVS port can never be bound to a later container's port (iface-id names are never reused).
import type { Operation, Row } from '../ovsdb/types';
import type { Db } from '../ovs/db';
import { byUuid, deleteRefs, insertRefs, map, named, set, uuid } from '../ovs/wire';
import { type NbRow, nbByName, nbRows, owner } from './nb';
import { LS } from './logical-switch';

export const LSP = 'Logical_Switch_Port';

export function lspName(endpointId: string): string {
  return `ocn-${endpointId}`;
}

export function findLsp(nb: Db, name: string): NbRow<'Logical_Switch_Port'> | undefined {
  return nbByName(nb, LSP, name);
}

export interface LspSpec {
  name: string;
  mac: string;
  ips: string[];
  /** MAC+IP port security (no spoofing); off only for DHCP-from-outside networks without IPs. */
  portSecurity: boolean;
  dhcpv4?: string;
  externalIds: Record<string, string>;
}

/** "mac ip ip6" as OVN wants it (addresses without prefix length). */
export function lspAddress(mac: string, ips: string[]): string {
  return [mac, ...ips.map((c) => c.split('/')[0])].join(' ');
}

export function addLspOps(ls: Row, spec: LspSpec, ref = 'newlsp'): Operation[] {
  const addr = spec.ips.length ? lspAddress(spec.mac, spec.ips) : spec.mac;
  const row: Record<string, import('../ovsdb/types').WireValue> = {
    name: spec.name,
    addresses: set(addr),
    port_security: spec.portSecurity ? set(addr) : set(),
    external_ids: map(owner('port', spec.externalIds)),
  };
  if (spec.dhcpv4) row.dhcpv4_options = uuid(spec.dhcpv4);
  return [
    { op: 'insert', table: LSP, 'uuid-name': ref, row },
    { op: 'mutate', table: LS, where: byUuid(ls._uuid), mutations: [insertRefs('ports', named(ref))] },
  ];
}

export function deleteLspOps(ls: Row | undefined, lsp: Row | undefined): Operation[] {
  if (!ls || !lsp) return [];
  return [{ op: 'mutate', table: LS, where: byUuid(ls._uuid), mutations: [deleteRefs('ports', uuid(lsp._uuid))] }];
}

/** The switch holding a port (by reference). */
export function switchOfLsp(nb: Db, lspUuid: string): NbRow<'Logical_Switch'> | undefined {
  for (const ls of nbRows(nb, LS)) if (ls.ports.includes(lspUuid)) return ls;
  return undefined;
}
