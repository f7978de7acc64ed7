// Chassis setup: the external_ids of the local Open_vSwitch row that make ovn-controller join
// (ovn-remote, ovn-encap-type, ovn-encap-ip, system-id, and the datapath type of br-int).
import { isIPv4 } from 'node:net';
import * as os from 'node:os';
import type { Operation } from '../ovsdb/types';
import { InputError } from '../util/errors';
import type { Db } from './db';
import { vsByName, vsRows } from './tables';
import { kvOps, rootExternalIds } from './open-vswitch';
import { kernelHasOvsModule } from '../backends/bridge/infra';

export interface ChassisSettings {
  ovnSb: string;
  encap: 'geneve' | 'vxlan';
  encapIp: string;
  systemId?: string;
  datapath?: 'system' | 'netdev';
  /** physnet:bridge pairs for localnet ports (a gateway chassis' external bridge). */
  bridgeMappings?: string;
}


/** The settings to write, given the root row's external_ids as they are now (`current`). */
export function chassisIds(current: Readonly<Record<string, string>>, s: ChassisSettings): Record<string, string> {
  if (!s.ovnSb) throw new InputError('--ovn-sb is required: the OVN Southbound database ovn-controller connects to (e.g. tcp:10.0.0.1:6642)');
  if (!isIPv4(s.encapIp)) throw new InputError(`--encap-ip: "${s.encapIp}" is not an IPv4 address of this host`);
  const datapath = s.datapath ?? (kernelHasOvsModule() ? 'system' : 'netdev');
  if (s.bridgeMappings && !/^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]{1,15}(,[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]{1,15})*$/.test(s.bridgeMappings)) {
    throw new InputError(`--bridge-mappings: "${s.bridgeMappings}" is not physnet:bridge[,physnet:bridge...]`);
  }
  const mappings: Record<string, string> = s.bridgeMappings ? { 'ovn-bridge-mappings': s.bridgeMappings } : {};
  return {
    ...mappings,
    'ovn-remote': s.ovnSb,
    'ovn-encap-type': s.encap,
    'ovn-encap-ip': s.encapIp,
    'system-id': s.systemId || current['system-id'] || current.hostname || os.hostname(),
    'ovn-bridge': current['ovn-bridge'] || 'br-int',
    'ovn-bridge-datapath-type': datapath,
  };
}

export function chassisSetupOps(current: Readonly<Record<string, string>>, s: ChassisSettings): Operation[] {
  return kvOps(chassisIds(current, s), undefined);
}

export interface ChassisStatus {
  systemId?: string;
  ovnRemote?: string;
  encapType?: string;
  encapIp?: string;
  integrationBridge: string;
  bridgeExists: boolean;
  /** ovn-controller created its tunnel ports (one per other chassis): it is bound. */
  tunnels: number;
}

export function chassisStatus(db: Db): ChassisStatus {
  const ids = rootExternalIds(db);
  const br = ids['ovn-bridge'] || 'br-int';
  let tunnels = 0;
  for (const i of vsRows(db, 'Interface')) if (i.type === 'geneve' || i.type === 'vxlan' || i.type === 'stt') if (i.external_ids['ovn-chassis-id'] !== undefined || i.name.startsWith('ovn-')) tunnels++;
  return {
    systemId: ids['system-id'], ovnRemote: ids['ovn-remote'], encapType: ids['ovn-encap-type'], encapIp: ids['ovn-encap-ip'],
    integrationBridge: br, bridgeExists: vsByName(db, 'Bridge', br) !== undefined, tunnels,
  };
}
