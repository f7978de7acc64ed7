// Everything binding a network to OVN changes, as ONE transaction planned on the cache: the
// switch (created, or our reference added), its port on the tenant's router (the router created
// if missing), the router's way out (gateway port on its chassis, external switch, default
// route), SNAT for the subnet, DHCP options. What already exists is reused, never rewritten; a
// failure anywhere commits nothing, so nothing is ever left half-bound.
import type { Operation } from '../ovsdb/types';
import type { Db } from '../ovs/db';
import { KEY } from '../model/owner-ids';
import { byUuid, map, mapPut, named, set, uuid } from '../ovs/wire';
import { ConflictError } from '../util/errors';
import { addRefOps, createSwitchOps, findSwitch, LS } from './logical-switch';
import { attachRouterPeerOps, connectSwitchOps, createRouterOps, findRouter, LR, LRP, routerPeerAttached, routerPortName } from './logical-router';
import { createGatewayOps, externalAddress, externalSwitchName, findGatewayPort, natRowsOf, snatOps, type GatewaySpec } from './gateway';
import { createDhcpOps, DHCP, dhcpIds, findDhcp, type DhcpSpec } from './dhcp-options';
import { absentOp, presentOp, type RowRef, whereRef } from './txn';
import { nbByName, nbOwned } from './nb';

export interface BindSpec {
  switch: string;
  subnet: string;
  /** This network's reference key on the switch (refKey). */
  ref: string;
  networkId: string;
  /** The tenant router, and this switch's gateway address and MAC on it. */
  router?: { name: string; gatewayCidr?: string; mac: string };
  gateway?: GatewaySpec;
  dhcp?: DhcpSpec;
  /** IGMP/MLD snooping on the switch (other_config:mcast_snoop). */
  mcastSnoop?: boolean;
}


/** IGMP/MLD snooping on a switch; unregistered groups are then not flooded (OVN's default). */
function snoopOp(ls: RowRef): Operation {
  return { op: 'mutate', table: LS, where: whereRef(ls), mutations: mapPut('other_config', { mcast_snoop: 'true' }) };
}

export function planBind(nb: Db, s: BindSpec): Operation[] {
  return [...planTopology(nb, s), ...planDhcp(nb, s.switch, s.dhcp)];
}

function planTopology(nb: Db, s: BindSpec): Operation[] {
  const ops: Operation[] = [];
  const ls = findSwitch(nb, s.switch);
  let lsRef: RowRef;
  if (ls) {
    const have = ls.external_ids[KEY.subnet];
    if (have && s.subnet && have !== s.subnet && s.subnet !== '0.0.0.0/0') {
      throw new ConflictError(`ovn.switch ${s.switch} carries subnet ${have}; this network has ${s.subnet}. Use the same --subnet on every host`);
    }
    ops.push(...presentOp(LS, ls), ...addRefOps(ls, s.ref));
    if (s.mcastSnoop && ls.other_config.mcast_snoop !== 'true') {
      // Another controller's switch is configured by its owner: asking is all we can do.
      if (!nbOwned(ls, 'switch')) throw new ConflictError(`option multicast=snoop: logical switch ${s.switch} is not this plugin's and has no mcast_snoop; set other_config:mcast_snoop=true on it, or leave the option out`);
      ops.push(snoopOp(ls));
    }
    lsRef = ls;
  } else {
    ops.push(...createSwitchOps(s.switch, s.subnet, s.ref));
    lsRef = named('newls');
    if (s.mcastSnoop) ops.push(snoopOp(lsRef));
  }
  if (!s.router) return ops;
  const lr = findRouter(nb, s.router.name);
  let lrRef: RowRef | undefined = lr;
  if (lr) ops.push(...presentOp(LR, lr));
  // Another host may create the same router port, gateway port or peer ports at this moment:
  // their names are unique in the schema, so the later transaction fails and is planned again.
  if (s.router.gatewayCidr && !nbByName(nb, LRP, routerPortName(s.switch))) {
    if (!lrRef) {
      ops.push(...createRouterOps(s.router.name));
      lrRef = named('newlr');
    }
    ops.push(...connectSwitchOps(lrRef, lsRef, s.switch, s.router.gatewayCidr, s.router.mac));
  } else if (s.router.gatewayCidr && !(ls && routerPeerAttached(nb, ls, s.switch))) {
    // The router port survived a switch that was lost and made again: only its peer is missing.
    ops.push(...attachRouterPeerOps(lsRef, s.switch));
  }
  if (!s.gateway) return ops;
  if (!lrRef) throw new Error(`router ${s.router.name} is missing`);
  let ext = externalAddress(nb, s.router.name);
  if (!findGatewayPort(nb, s.router.name)) {
    ops.push(absentOp(LS, [['name', '==', externalSwitchName(s.router.name)]]), ...createGatewayOps(lrRef, s.gateway));
    ext = s.gateway.externalIp.split('/')[0];
  }
  if (s.subnet && ext && !(lr && natRowsOf(nb, lr).some((n) => n.type === 'snat' && n.logical_ip === s.subnet))) {
    // NAT rows have no name: a router whose NAT set changed since we looked may have just got it.
    if (lr) ops.push({ op: 'wait', table: LR, where: byUuid(lr._uuid), columns: ['nat'], until: '==', rows: [{ nat: set(...lr.nat.map(uuid)) }], timeout: 0 });
    ops.push(...snatOps(lrRef, ext, s.subnet, s.networkId));
  }
  return ops;
}

/** DHCP options are per switch, whichever router (if any) it has. */
function planDhcp(nb: Db, switchName: string, spec: DhcpSpec | undefined): Operation[] {
  if (!spec || findDhcp(nb, switchName)) return [];
  // The same rows findDhcp looks for: ours, for this switch (another host may create them now).
  return [absentOp(DHCP, [['external_ids', 'includes', map(dhcpIds(switchName))]]), ...createDhcpOps(switchName, spec)];
}
