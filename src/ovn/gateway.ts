// A tenant router's way out: a distributed gateway port pinned to one chassis, an external
// switch with a localnet port onto that chassis' physical bridge (ovn-bridge-mappings), a
// default route, SNAT per subnet, and load balancers for published ports (DNAT with ports).
import type { Operation, Row } from '../ovsdb/types';
import type { Db } from '../ovs/db';
import { byUuid, insertRefs, map, mapDelete, mapPut, named, set } from '../ovs/wire';
import { KEY } from '../model/owner-ids';
import { type NbRow, nbByName, nbOwnedRows, nbRows, owner } from './nb';
import { LR } from './logical-router';
import { LS } from './logical-switch';
import { LSP } from './logical-switch-port';
import { type RowRef, whereRef } from './txn';

export const gatewayPortName = (router: string) => `ocn-gw-${router}`;
export const externalSwitchName = (router: string) => `ocn-ext-${router}`;
export const LB_PREFIX = 'ocn-lb-';
export const lbName = (router: string, proto: string) => `${LB_PREFIX}${router}-${proto}`;

export interface GatewaySpec {
  router: string;
  chassis: string;
  externalIp: string; // CIDR
  nextHop: string;
  physnet: string;
  mac: string;
}

/** Everything the router needs to reach outside, created once per router. */
export function createGatewayOps(lr: RowRef, g: GatewaySpec): Operation[] {
  const lrp = gatewayPortName(g.router);
  const ext = externalSwitchName(g.router);
  return [
    { op: 'insert', table: 'Gateway_Chassis', 'uuid-name': 'gwch', row: { name: `${lrp}-${g.chassis}`, chassis_name: g.chassis, priority: 1 } },
    { op: 'insert', table: 'Logical_Router_Port', 'uuid-name': 'gwlrp', row: { name: lrp, mac: g.mac, networks: set(g.externalIp), gateway_chassis: set(named('gwch')), external_ids: map(owner('router-port')) } },
    { op: 'insert', table: 'Logical_Router_Static_Route', 'uuid-name': 'defrt', row: { ip_prefix: '0.0.0.0/0', nexthop: g.nextHop, external_ids: map(owner('router')) } },
    { op: 'mutate', table: LR, where: whereRef(lr), mutations: [insertRefs('ports', named('gwlrp')), insertRefs('static_routes', named('defrt'))] },
    { op: 'insert', table: LSP, 'uuid-name': 'extln', row: { name: `${ext}-localnet`, type: 'localnet', addresses: set('unknown'), options: map({ network_name: g.physnet }), external_ids: map(owner('port')) } },
    { op: 'insert', table: LSP, 'uuid-name': 'extrp', row: { name: `${ext}-rtr`, type: 'router', addresses: set('router'), options: map({ 'router-port': lrp }), external_ids: map(owner('port')) } },
    { op: 'insert', table: LS, row: { name: ext, ports: set(named('extln'), named('extrp')), external_ids: map(owner('switch', { [KEY.externalOf]: g.router })) } },
  ];
}

export function findGatewayPort(nb: Db, router: string): NbRow<'Logical_Router_Port'> | undefined {
  return nbByName(nb, 'Logical_Router_Port', gatewayPortName(router));
}

/** The router's external address (without prefix), when it has a gateway. */
export function externalAddress(nb: Db, router: string): string | undefined {
  return findGatewayPort(nb, router)?.networks[0]?.split('/')[0];
}

export function snatOps(lr: RowRef, externalIp: string, subnet: string, networkRef: string): Operation[] {
  return [
    { op: 'insert', table: 'NAT', 'uuid-name': 'snat', row: { type: 'snat', external_ip: externalIp, logical_ip: subnet, external_ids: map(owner('nat', { [KEY.networkRef]: networkRef })) } },
    { op: 'mutate', table: LR, where: whereRef(lr), mutations: [insertRefs('nat', named('snat'))] },
  ];
}

export function natRowsOf(nb: Db, lr: NbRow<'Logical_Router'>): NbRow<'NAT'>[] {
  return [...nbRows(nb, 'NAT')].filter((n) => lr.nat.includes(n._uuid));
}

export function dnatAndSnatOps(lr: Row, externalIp: string, logicalIp: string): Operation[] {
  return [
    { op: 'insert', table: 'NAT', 'uuid-name': 'dnat', row: { type: 'dnat_and_snat', external_ip: externalIp, logical_ip: logicalIp, external_ids: map(owner('nat', { [KEY.rule]: 'api' })) } },
    { op: 'mutate', table: LR, where: byUuid(lr._uuid), mutations: [insertRefs('nat', named('dnat'))] },
  ];
}

export function deleteNatOps(lr: Row, nat: Row): Operation[] {
  return [{ op: 'mutate', table: LR, where: byUuid(lr._uuid), mutations: [['nat', 'delete', set(['uuid', nat._uuid])]] }];
}

/** The router's load balancers (published ports) the product made. */
export function ownedLbs(nb: Db, router: string): NbRow<'Load_Balancer'>[] {
  return nbOwnedRows(nb, 'Load_Balancer').filter((r) => r.name.startsWith(lbName(router, '')));
}
