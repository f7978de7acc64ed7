// Logical_Router + Logical_Router_Port: one router per tenant connects the tenant's switches;
// each switch gets a router port holding its gateway address and a peer LSP of type router.
import type { Operation } from '../ovsdb/types';
import type { Db } from '../ovs/db';
import { byUuid, deleteRefs, insertRefs, map, named, set, uuid } from '../ovs/wire';
import { KEY } from '../model/owner-ids';
import { type NbRow, nbByName, nbOwned, nbOwnedRows, nbRows, owner } from './nb';
import { LS } from './logical-switch';
import { LSP } from './logical-switch-port';
import { type RowRef, whereRef } from './txn';

export const LR = 'Logical_Router';
export const LRP = 'Logical_Router_Port';

export function findRouter(nb: Db, name: string): NbRow<'Logical_Router'> | undefined {
  return nbByName(nb, LR, name);
}

export const routerPortName = (switchName: string) => `ocn-lrp-${switchName}`;
export const routerPeerName = (switchName: string) => `ocn-rtr-${switchName}`;

export function createRouterOps(name: string, uuidName = 'newlr'): Operation[] {
  return [
    { op: 'wait', table: LR, where: [['name', '==', name]], columns: ['name'], until: '==', rows: [], timeout: 0 },
    { op: 'insert', table: LR, 'uuid-name': uuidName, row: { name, external_ids: map(owner('router')) } },
  ];
}

/** Router port with the gateway address on the router, and its peer port on the switch. */
export function connectSwitchOps(router: RowRef, ls: RowRef, switchName: string, gatewayCidr: string, mac: string): Operation[] {
  return [
    { op: 'insert', table: LRP, 'uuid-name': 'newlrp', row: { name: routerPortName(switchName), mac, networks: set(gatewayCidr), external_ids: map(owner('router-port', { [KEY.switch]: switchName })) } },
    { op: 'mutate', table: LR, where: whereRef(router), mutations: [insertRefs('ports', named('newlrp'))] },
    ...attachRouterPeerOps(ls, switchName),
  ];
}

/** The switch's side of its router port: a port of type router naming it. */
export function attachRouterPeerOps(ls: RowRef, switchName: string): Operation[] {
  return [
    { op: 'insert', table: LSP, 'uuid-name': 'newrtrlsp', row: { name: routerPeerName(switchName), type: 'router', addresses: set('router'), options: map({ 'router-port': routerPortName(switchName) }), external_ids: map(owner('port', { [KEY.switch]: switchName })) } },
    { op: 'mutate', table: LS, where: whereRef(ls), mutations: [insertRefs('ports', named('newrtrlsp'))] },
  ];
}

/** Whether the switch holds its router peer port (a switch made again lost it with its old ports). */
export function routerPeerAttached(nb: Db, ls: NbRow<'Logical_Switch'>, switchName: string): boolean {
  const peer = nbByName(nb, LSP, routerPeerName(switchName));
  return !!peer && ls.ports.includes(peer._uuid);
}

/** Takes the router's peer port off a switch the plugin did not create (and so does not delete). */
export function detachRouterPeerOps(nb: Db, ls: NbRow<'Logical_Switch'>, switchName: string): Operation[] {
  const peer = nbByName(nb, LSP, routerPeerName(switchName));
  if (!peer || !nbOwned(peer, 'port') || !ls.ports.includes(peer._uuid)) return [];
  return [{ op: 'mutate', table: LS, where: byUuid(ls._uuid), mutations: [deleteRefs('ports', uuid(peer._uuid))] }];
}

/** The name of the router the switch is connected to (by its router port), if any. */
export function routerOfSwitch(nb: Db, switchName: string): string | undefined {
  const lrp = nbByName(nb, LRP, routerPortName(switchName));
  if (!lrp) return undefined;
  for (const lr of nbRows(nb, LR)) if (lr.ports.includes(lrp._uuid)) return lr.name;
  return undefined;
}

/**
 * Removes the switch's router port; the router goes with its last tenant switch if the plugin
 * made it, and with it its way out (gateway port, external switch, load balancers).
 */
export function disconnectSwitchOps(nb: Db, switchName: string): Operation[] {
  const ops: Operation[] = [];
  const lrp = nbByName(nb, LRP, routerPortName(switchName));
  if (!lrp) return ops;
  for (const lr of nbRows(nb, LR)) {
    if (!lr.ports.includes(lrp._uuid)) continue;
    ops.push({ op: 'mutate', table: LR, where: byUuid(lr._uuid), mutations: [deleteRefs('ports', uuid(lrp._uuid))] });
    const tenantPorts = nbOwnedRows(nb, LRP, 'router-port').filter((p) => lr.ports.includes(p._uuid) && p.name.startsWith(routerPortName('')));
    if (tenantPorts.length === 1 && nbOwned(lr)) {
      ops.push({ op: 'delete', table: LR, where: byUuid(lr._uuid) });
      for (const ls of nbOwnedRows(nb, LS, 'switch')) if (ls.external_ids[KEY.externalOf] === lr.name) ops.push({ op: 'delete', table: LS, where: byUuid(ls._uuid) });
      // gateway.ts's lbName (not imported: gateway.ts imports this module).
      for (const lb of nbOwnedRows(nb, 'Load_Balancer')) if (lb.name.startsWith(`ocn-lb-${lr.name}-`)) ops.push({ op: 'delete', table: 'Load_Balancer', where: byUuid(lb._uuid) });
    }
  }
  return ops;
}
