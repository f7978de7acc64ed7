// Logical_Router + Logical_Router_Port: one router per tenant connects the tenant's switches;
// each switch gets a router port holding its gateway address and a peer LSP of type router.
import type { Operation, Row } from '../ovsdb/types';
import type { Db } from '../ovs/db';
import { findByName } from '../ovs/db';
import { byUuid, deleteRefs, insertRefs, map, named, set, uuid } from '../ovs/wire';
import { owner } from './nb';
import { LS } from './logical-switch';
import { LSP } from './logical-switch-port';

export const LR = 'Logical_Router';
export const LRP = 'Logical_Router_Port';

export function findRouter(nb: Db, name: string): Row | undefined {
  return findByName(nb, LR, name);
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
export function connectSwitchOps(router: Row | ['named-uuid', string], ls: Row, switchName: string, gatewayCidr: string, mac: string): Operation[] {
  const lrWhere = Array.isArray(router) ? [['_uuid', '==', router] as ['_uuid', '==', ['named-uuid', string]]] : byUuid(router._uuid);
  return [
    { op: 'insert', table: LRP, 'uuid-name': 'newlrp', row: { name: routerPortName(switchName), mac, networks: set(gatewayCidr), external_ids: map(owner('router-port', { 'ocn-switch': switchName })) } },
    { op: 'mutate', table: LR, where: lrWhere, mutations: [insertRefs('ports', named('newlrp'))] },
    { op: 'insert', table: LSP, 'uuid-name': 'newrtrlsp', row: { name: routerPeerName(switchName), type: 'router', addresses: set('router'), options: map({ 'router-port': routerPortName(switchName) }), external_ids: map(owner('port', { 'ocn-switch': switchName })) } },
    { op: 'mutate', table: LS, where: byUuid(ls._uuid), mutations: [insertRefs('ports', named('newrtrlsp'))] },
  ];
}

export function disconnectSwitchOps(nb: Db, switchName: string): Operation[] {
  const ops: Operation[] = [];
  const lrp = findByName(nb, LRP, routerPortName(switchName));
  if (lrp) {
    for (const lr of nb.rows(LR)) {
      const ports = Array.isArray(lr.ports) ? lr.ports : [lr.ports];
      if (ports.includes(lrp._uuid)) {
        ops.push({ op: 'mutate', table: LR, where: byUuid(lr._uuid), mutations: [deleteRefs('ports', uuid(lrp._uuid))] });
        // The router goes with its last port if the plugin made it.
        const ids = (lr.external_ids ?? {}) as Record<string, string>;
        if (ports.length === 1 && ids['ocn-owner']) ops.push({ op: 'delete', table: LR, where: byUuid(lr._uuid) });
      }
    }
  }
  return ops;
}
