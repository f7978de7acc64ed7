// OVS Mirror rows and their output ports on one bridge: the operations that make and remove
// them, how the daemon's mirrors are read back (the Mirror table is not monitored: a `select`
// when listing or deleting is enough), and the revalidator purge a new or removed mirror needs.
// Also the words the mirror modules share: directions, outputs, their error.
import * as fs from 'node:fs';
import * as path from 'node:path';
import execa from 'execa';
import type { Operation, OperationResult, WireRow } from '../ovsdb/types';
import { decodeAtom, decodeMapEntries, decodeSetElements } from '../ovsdb/schema';
import { OWNER, OWNER_TYPE, localOwner } from '../model/owner-ids';
import { byUuid, insertRefs, deleteRefs, map, named, set, uuid } from '../ovs/wire';

/** A mirror error: its code (data.code of the JSON-RPC error) and the parameter it is about. */
export class MirrorError extends Error {
  override name = 'MirrorError';
  constructor(readonly code: 'INVALID_ARGUMENT' | 'ENDPOINT_NOT_FOUND' | 'NETWORK_NOT_FOUND' | 'MIRROR_NOT_FOUND' | 'UNSUPPORTED' | 'OUTPUT_IN_USE' | 'OUTPUT_REFUSED', message: string, readonly field?: string) {
    super(message);
  }
}

/** Seen from the container: `in` is traffic to it, `out` traffic from it. */
export type Direction = 'both' | 'in' | 'out';
export const DIRECTIONS: readonly Direction[] = ['both', 'in', 'out'];

export type TunnelType = 'gre' | 'erspan';
/** Where mirrored frames go: a local interface (tcpdump -i NAME) or a remote collector. */
export type MirrorOutput = { type: 'interface'; name: string } | { type: TunnelType; remoteIp: string; key: number };

/** Which frames a mirror takes: those of some ports (an endpoint's), or all of one VLAN (a network's). */
export type Selection = { ports: string[]; direction: Direction } | { vlan: number };

/** external_ids of a Mirror row, beside the owner ids: what it was made for. */
export const MIRROR_KEY = {
  id: 'ocn-mirror',
  endpoint: 'ocn-mirror-endpoint',
  network: 'ocn-mirror-network',
  direction: 'ocn-mirror-direction',
  /** The output as asked for (JSON of MirrorOutput). */
  output: 'ocn-mirror-output',
  /** A veth the daemon made for the output (deleted with the mirror). */
  veth: 'ocn-mirror-veth',
  /** A capture's mirror: removed at start-up if a crash left it. */
  temporary: 'ocn-mirror-temporary',
} as const;

/** Names derived from the mirror id (8 hex digits), interface names within IFNAMSIZ (15). */
export const mirrorRowName = (id: string): string => `ocn-mirror-${id}`;
/** The output port on the bridge (a veth end, or the tunnel port). */
export const outputPortName = (id: string): string => `ocmo${id}`;
/** The other end of a capture's veth, the one tcpdump reads. */
export const captureTapName = (id: string): string => `ocmt${id}`;
/** Alias of the veths the daemon makes for mirrors, so a crash's leftovers can be found. */
export const vethAlias = (driver: string): string => `ocn-mirror:${driver}`;

/** The Mirror columns that select frames. A port's `src` is what it receives: the container's `out`. */
export function selectColumns(sel: Selection): WireRow {
  if ('vlan' in sel) return { select_all: true, select_vlan: set(sel.vlan) };
  const ports = sel.ports.map((p) => uuid(p));
  return {
    select_src_port: set(...(sel.direction === 'in' ? [] : ports)),
    select_dst_port: set(...(sel.direction === 'out' ? [] : ports)),
  };
}

/** An output port's Interface type and options. ERSPAN: version 1, its key is the session id. */
export function outputInterface(out: MirrorOutput): { type: string; options: Record<string, string> } {
  if (out.type === 'interface') return { type: '', options: {} };
  const options: Record<string, string> = { remote_ip: out.remoteIp, key: String(out.key) };
  if (out.type === 'erspan') Object.assign(options, { erspan_ver: '1', erspan_idx: '1' });
  return { type: out.type, options };
}

export interface MirrorPlan {
  id: string;
  bridgeUuid: string;
  selection: Selection;
  output: MirrorOutput;
  /** The port added to the bridge: the veth end or an existing interface, or the tunnel. */
  portName: string;
  /**
   * Access VLAN of the output port: frames leave it untagged, as the container sees them (an
   * access port strips the tag of whatever it outputs, mirrored frames included).
   */
  access?: number;
  /** external_ids of the Mirror row, beside the owner ids. */
  ids: Record<string, string>;
}

/** Output port and Mirror in one transaction: a mirror never exists without its output. */
export function createMirrorOps(driver: string, plan: MirrorPlan): Operation[] {
  const owner = localOwner(driver, 'mirror', { [MIRROR_KEY.id]: plan.id });
  const iface = outputInterface(plan.output);
  const port: WireRow = { name: plan.portName, interfaces: named('mirror_if'), external_ids: map(owner) };
  if (plan.access !== undefined) Object.assign(port, { tag: plan.access, vlan_mode: 'access' });
  return [
    { op: 'insert', table: 'Interface', 'uuid-name': 'mirror_if', row: { name: plan.portName, type: iface.type, options: map(iface.options), external_ids: map(owner) } },
    { op: 'insert', table: 'Port', 'uuid-name': 'mirror_port', row: port },
    {
      op: 'insert', table: 'Mirror', 'uuid-name': 'mirror',
      row: { name: mirrorRowName(plan.id), output_port: named('mirror_port'), ...selectColumns(plan.selection), external_ids: map({ ...owner, ...plan.ids }) },
    },
    { op: 'mutate', table: 'Bridge', where: byUuid(plan.bridgeUuid), mutations: [insertRefs('ports', named('mirror_port')), insertRefs('mirrors', named('mirror'))] },
  ];
}

/** Unreferenced, the Mirror and the Port (with its Interface) are garbage-collected by OVSDB. */
export function deleteMirrorOps(m: Pick<MirrorRow, 'uuid' | 'bridgeUuid' | 'outputPort'>): Operation[] {
  const mutations = [deleteRefs('mirrors', uuid(m.uuid))];
  if (m.outputPort) mutations.push(deleteRefs('ports', uuid(m.outputPort)));
  return [{ op: 'mutate', table: 'Bridge', where: byUuid(m.bridgeUuid), mutations }];
}

/** A Mirror row of the daemon, as read back with readMirrorsOps. */
export interface MirrorRow {
  uuid: string;
  id: string;
  bridgeUuid: string;
  bridge: string;
  outputPort?: string;
  ids: Record<string, string>;
  statistics: Record<string, number>;
}

/** The daemon's Mirror rows and every bridge's mirrors (to know where each one is). */
export function readMirrorsOps(driver: string): Operation[] {
  return [
    { op: 'select', table: 'Mirror', where: [['external_ids', 'includes', map({ [OWNER]: driver, [OWNER_TYPE]: 'mirror' })]], columns: ['_uuid', 'external_ids', 'output_port', 'statistics'] },
    { op: 'select', table: 'Bridge', where: [], columns: ['_uuid', 'name', 'mirrors'] },
  ];
}

const uuidOf = (v: unknown): string => String(decodeAtom(v as ['uuid', string]));

export function decodeMirrors(results: OperationResult[]): MirrorRow[] {
  const [mirrors, bridges] = results;
  const where = new Map<string, { uuid: string; name: string }>();
  for (const b of bridges?.rows ?? []) {
    for (const m of decodeSetElements(b.mirrors)) where.set(String(m), { uuid: uuidOf(b._uuid), name: String(b.name) });
  }
  const out: MirrorRow[] = [];
  for (const r of mirrors?.rows ?? []) {
    const u = uuidOf(r._uuid);
    const bridge = where.get(u);
    if (!bridge) continue; // being deleted: no bridge refers to it any more
    const ids = decodeMapEntries(r.external_ids) as Record<string, string>;
    const port = decodeSetElements(r.output_port);
    out.push({
      uuid: u, id: ids[MIRROR_KEY.id] ?? '', bridgeUuid: bridge.uuid, bridge: bridge.name,
      outputPort: port.length ? String(port[0]) : undefined, ids,
      statistics: decodeMapEntries(r.statistics) as Record<string, number>,
    });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** ovs-vswitchd's control socket: <OVS run dir>/ovs-vswitchd.<pid>.ctl, the run dir beside the OVSDB socket. */
export function vswitchdControl(ovsdbRemote: string): string {
  const m = /^unix:(.+)$/.exec(ovsdbRemote);
  const rundir = m ? path.dirname(m[1]) : '/var/run/openvswitch';
  const pid = fs.readFileSync(path.join(rundir, 'ovs-vswitchd.pid'), 'utf8').trim();
  return path.join(rundir, `ovs-vswitchd.${pid}.ctl`);
}

/**
 * A new or removed Mirror does not change datapath flows that exist already: traffic already
 * running would stay unmirrored (or mirrored) until its flows idle out. Purging the revalidators
 * makes every flow be translated again with the mirrors as they are now (measured: without it a
 * running ping stays unmirrored for as long as it runs).
 */
export async function purgeRevalidators(ovsdbRemote: string): Promise<void> {
  await execa('ovs-appctl', ['-t', vswitchdControl(ovsdbRemote), '--timeout=5', 'revalidator/purge'], { timeout: 10_000 });
}
