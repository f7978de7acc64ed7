// The OVN side of a network: its logical switch (bound by name across hosts), router port,
// DHCP options, and one logical switch port per endpoint. NB transactions here are separate
// from the local OVSDB ones, so each caller undoes the NB part when the local part fails.
import type { Db } from '../../ovs/db';
import { externalIds } from '../../ovs/db';
import type { Operation } from '../../ovsdb/types';
import { ConflictError, InputError } from '../../util/errors';
import type { Logger } from '../../util/log';
import { ADDR_PREFIX, AddressBook } from '../../ovn/address-book';
import { deleteUnreferencedSwitchOps, dropRefOps, findSwitch, LS, refKey, stillUnreferencedOp, switchRefs } from '../../ovn/logical-switch';
import { addLspOps, deleteLspOps, findLsp, lspName, switchOfLsp } from '../../ovn/logical-switch-port';
import { detachRouterPeerOps, disconnectSwitchOps, findRouter, routerOfSwitch, routerPeerAttached } from '../../ovn/logical-router';
import { deleteDhcpOps, findDhcp } from '../../ovn/dhcp-options';
import { type BindSpec, planBind } from '../../ovn/bind-plan';
import { commitPlan, lostRace, outcomeUnknown } from '../../ovn/txn';
import { nbByName, nbOwned, nbOwnedRows, nbRows } from '../../ovn/nb';
import { EP, KEY } from '../../model/owner-ids';
import { deleteNatOps, dnatAndSnatOps, externalAddress, LB_PREFIX, natRowsOf } from '../../ovn/gateway';
import { planVips, PROTOCOLS, type Protocol, type Vips, vipHolderKey } from '../../ovn/published-ports';
import type { PublishedPort } from '../../net/firewall';
import { macFor } from '../../driver/mac';
import { type Endpoint, type NetworkRecord, endpointQos } from '../../driver/model';
import { clearLspQosOps, detachQosOps, orphanQosRows, QOS_LSP_KEY, setLspQosOps } from '../../ovn/qos';
import type { KnownState } from '../backend';
import { DROP_PG, groupsOfPort, PG, setMembershipOps } from '../../ovn/port-group';
import { sgKeys } from '../../secgroups/model';
import { named } from '../../ovs/wire';

export interface OvnContext {
  nb: Db;
  /** This chassis' system-id: names the host in reservations and references. */
  host: () => string;
  log: Logger;
}

/** The VIPs of an endpoint's IPv4 publications of one protocol (IPv6 has no router VIP here). */
function vipsFor(ext: string, ports: PublishedPort[], proto: Protocol): Vips {
  const out: Vips = {};
  for (const p of ports) if (p.proto === proto && !p.containerIp.includes(':')) out[`${ext}:${p.hostPort}`] = `${p.containerIp}:${p.containerPort}`;
  return out;
}

export class OvnNetworks {
  constructor(private readonly ctx: OvnContext) {}

  book(net: NetworkRecord): AddressBook {
    return new AddressBook(this.ctx.nb, net.ovn!.switch, this.ctx.host());
  }

  /**
   * Creates or binds the switch, connects it to the tenant's router, sets up the router's gateway,
   * SNAT and DHCP: one transaction, so a failure leaves nothing. Only when the outcome is unknown
   * (the connection died before the reply) is there something to undo: our reference, and with
   * it whatever no other network uses.
   */
  async bind(net: NetworkRecord): Promise<void> {
    const o = net.options.ovn!;
    const ref = refKey(this.ctx.host(), net.id);
    const spec = this.bindSpec(net, ref);
    try {
      await commitPlan(this.ctx.nb, () => planBind(this.ctx.nb, spec));
    } catch (err) {
      if (outcomeUnknown(err)) {
        await this.unbind({ ...net, ovn: { switch: o.switch, ref } }).catch((e) => this.ctx.log.warn({ switch: o.switch, err: String(e) }, 'failed bind not undone'));
      }
      throw err;
    }
    const ls = findSwitch(this.ctx.nb, o.switch);
    net.ovn = { switch: o.switch, ref, createdSwitch: ls ? nbOwned(ls, 'switch') : undefined };
  }

  private bindSpec(net: NetworkRecord, ref: string): BindSpec {
    const o = net.options.ovn!;
    const subnet = net.ipv4[0]?.Pool ?? '';
    const gw = net.ipv4.find((d) => d.Gateway)?.Gateway;
    const g = o.router ? o.gateway : undefined;
    return {
      switch: o.switch, subnet, ref, networkId: net.id, mcastSnoop: net.options.multicast === 'snoop',
      router: o.router ? { name: o.router, gatewayCidr: gw, mac: macFor(gw, undefined, o.switch) } : undefined,
      gateway: g && { router: o.router!, chassis: g.chassis, externalIp: g.externalIp, nextHop: g.nextHop, physnet: g.physnet, mac: macFor(g.externalIp, undefined, o.router!) },
      dhcp: o.dhcp && subnet && subnet !== '0.0.0.0/0' ? {
        cidr: subnet, router: gw?.split('/')[0], serverId: gw ? gw.split('/')[0] : subnet.split('/')[0], serverMac: macFor(gw ?? subnet, undefined, o.switch),
        dns: o.dns, leaseTime: o.leaseTime, domain: o.domain, mtu: net.mtu,
      } : undefined,
    };
  }

  /**
   * Published ports of an OVN network: VIPs on the router's load balancers at its external
   * address, all protocols in one transaction. A port another host or container holds is refused
   * (ConflictError); republishing the same mapping changes nothing.
   */
  async publish(net: NetworkRecord, before: PublishedPort[], after: PublishedPort[]): Promise<void> {
    const router = net.options.ovn?.router;
    const ext = router ? externalAddress(this.ctx.nb, router) : undefined;
    if (!router || !findRouter(this.ctx.nb, router) || !ext) {
      if (after.length) throw new InputError(`published ports on OVN network ${net.id.slice(0, 12)} need a router with a gateway (ovn.gateway_chassis, ovn.external_ip, ovn.external_gateway)`);
      return;
    }
    const plan = (from: PublishedPort[], to: PublishedPort[]) => (): Operation[] => {
      const lr = findRouter(this.ctx.nb, router);
      if (!lr) throw new InputError(`router ${router} of OVN network ${net.id.slice(0, 12)} no longer exists`);
      return PROTOCOLS.flatMap((proto) => {
        const add = vipsFor(ext, to, proto);
        const del = Object.fromEntries(Object.entries(vipsFor(ext, from, proto)).filter(([vip, backend]) => add[vip] !== backend));
        return planVips(this.ctx.nb, lr, router, proto, add, del, this.ctx.host());
      });
    };
    try {
      await commitPlan(this.ctx.nb, plan(before, after));
    } catch (err) {
      if (outcomeUnknown(err)) await commitPlan(this.ctx.nb, plan(after, before)).catch((e) => this.ctx.log.warn({ router, err: String(e) }, 'failed publication not undone'));
      if (lostRace(err)) throw new ConflictError(`published ports ${after.map((p) => `${p.hostPort}/${p.proto}`).join(', ')}: a port is already allocated: another host published it at the same moment`);
      throw err;
    }
  }

  /** Explicit 1:1 NAT through the control API. */
  async addNat(router: string, externalIp: string, logicalIp: string): Promise<void> {
    const lr = findRouter(this.ctx.nb, router);
    if (!lr) throw new InputError(`router ${router} does not exist`);
    if (natRowsOf(this.ctx.nb, lr).some((n) => n.external_ip === externalIp && n.type === 'dnat_and_snat')) return;
    await this.ctx.nb.transact(dnatAndSnatOps(lr, externalIp, logicalIp));
  }

  async removeNat(router: string, externalIp: string): Promise<void> {
    const lr = findRouter(this.ctx.nb, router);
    if (!lr) return;
    const rows = natRowsOf(this.ctx.nb, lr).filter((n) => n.external_ip === externalIp && nbOwned(n, 'nat'));
    if (rows.length) await this.ctx.nb.transact(rows.flatMap((n) => deleteNatOps(lr, n)));
  }

  listNat(): { router: string; type: string; external_ip: string; logical_ip: string }[] {
    const out = [];
    for (const lr of nbRows(this.ctx.nb, 'Logical_Router')) {
      for (const n of natRowsOf(this.ctx.nb, lr)) out.push({ router: lr.name, type: n.type, external_ip: n.external_ip, logical_ip: n.logical_ip });
    }
    return out;
  }

  /**
   * Drops this network's reference; the last one removes what the plugin created (on a user's
   * switch: what it attached, never the switch). The decision
   * is taken on a cache that has seen our own change, hence every change committed before it.
   */
  async unbind(net: NetworkRecord): Promise<void> {
    if (!net.ovn) return;
    await this.dropReference(net.ovn.switch, net.ovn.ref, net.options.ovn?.router, net.ipv4[0]?.Pool);
  }

  /** Drops one network's reference to a switch; the last one removes what the plugin created or attached. */
  private async dropReference(name: string, ref: string, routerName: string | undefined, subnet: string | undefined): Promise<void> {
    const ls = findSwitch(this.ctx.nb, name);
    if (!ls) return;
    await this.ctx.nb.transact(dropRefOps(ls, ref));
    try {
      await this.ctx.nb.waitFor(LS, (r) => (r._uuid === ls._uuid && !(ref in externalIds(r)) ? true : undefined), 5000);
    } catch {
      return; // the switch went away meanwhile
    }
    const now = findSwitch(this.ctx.nb, name);
    if (!now || switchRefs(now).length) return;
    // A user's switch stays; what the plugin attached to it (router port, DHCP) goes.
    const own = nbOwned(now, 'switch') ? deleteUnreferencedSwitchOps(now) : [stillUnreferencedOp(now), ...detachRouterPeerOps(this.ctx.nb, now, name)];
    const ops = [...own, ...disconnectSwitchOps(this.ctx.nb, name)];
    const router = routerName ? findRouter(this.ctx.nb, routerName) : undefined;
    if (router && subnet) for (const n of natRowsOf(this.ctx.nb, router)) if (n.type === 'snat' && n.logical_ip === subnet && nbOwned(n, 'nat')) ops.push(...deleteNatOps(router, n));
    const dhcp = findDhcp(this.ctx.nb, name);
    if (dhcp && nbOwned(dhcp, 'dhcp')) ops.push(...deleteDhcpOps(dhcp));
    await this.ctx.nb.transact(ops).catch((err) => this.ctx.log.info({ switch: name, err: String(err) }, 'switch kept: another network bound it meanwhile'));
  }

  /**
   * What an interrupted request or a crash left in the NB for this host, given what it has (in
   * flight included): logical ports of endpoints it does not have, its references to switches
   * for networks it does not have (the last one takes the switch and what hangs on it, as a
   * delete would), and VIPs it holds for publications none of its endpoints has. Rows of other
   * hosts are never touched. Returns what was removed.
   */
  async collectLeftovers(known: KnownState): Promise<string[]> {
    const nb = this.ctx.nb;
    const host = this.ctx.host();
    const removed: string[] = [];
    for (const lsp of nbOwnedRows(nb, 'Logical_Switch_Port', 'port')) {
      const ids = lsp.external_ids;
      if (ids[KEY.host] !== host || !ids[EP.endpoint]) continue;
      if (known.endpointIds.has(ids[EP.endpoint]) && known.networkIds.has(ids[EP.network])) continue;
      await this.deletePort(ids[EP.endpoint]);
      removed.push(`logical port ${lsp.name}`);
    }
    const refs = new Set([...known.networkIds].map((id) => refKey(host, id)));
    const mine = refKey(host, '');
    for (const ls of [...nbRows(nb, LS)]) {
      for (const ref of switchRefs(ls)) {
        // Exactly "<prefix><host>-<12 chars of a network id>": "h1" never claims host "h1-x"'s.
        if (!ref.startsWith(mine) || ref.length !== mine.length + 12 || refs.has(ref)) continue;
        await this.dropReference(ls.name, ref, routerOfSwitch(nb, ls.name), ls.external_ids[KEY.subnet]);
        removed.push(`${ref} on switch ${ls.name}`);
      }
    }
    const published = new Set<string>();
    for (const ep of known.endpoints) for (const p of ep.ports) published.add(`${p.proto} ${p.hostPort} ${p.containerIp}:${p.containerPort}`);
    for (const lb of nbOwnedRows(nb, 'Load_Balancer')) {
      const proto = PROTOCOLS.find((x) => lb.name.endsWith(`-${x}`));
      if (!proto || !lb.name.startsWith(LB_PREFIX)) continue;
      const router = lb.name.slice(LB_PREFIX.length, -(proto.length + 1));
      const lr = findRouter(nb, router);
      const stale: Vips = {};
      for (const [vip, backend] of Object.entries(lb.vips)) {
        if (lb.external_ids[vipHolderKey(vip)] !== host) continue;
        if (!published.has(`${proto} ${vip.slice(vip.lastIndexOf(':') + 1)} ${backend}`)) stale[vip] = backend;
      }
      if (!lr || !Object.keys(stale).length) continue;
      await nb.transact(planVips(nb, lr, router, proto, {}, stale, host));
      removed.push(...Object.keys(stale).map((vip) => `VIP ${vip}/${proto}`));
    }
    // A QoS row is written with its port and removed with it; one without a port is a leftover (any host's).
    const orphans = orphanQosRows(nb, (name) => !!findLsp(nb, name));
    if (orphans.length) {
      await nb.transact(detachQosOps(orphans));
      removed.push(...orphans.map((r) => `QoS row of ${r.external_ids[QOS_LSP_KEY]}`));
    }
    if (removed.length) this.ctx.log.info({ removed }, 'NB leftovers of this host collected');
    return removed;
  }

  /**
   * Reserves again, after NB lost them with the switch, the addresses this host holds (its
   * endpoint's and the network's gateway), so other hosts do not hand them out. An address
   * another host took meanwhile is reported: two containers now share it.
   */
  async reReserve(net: NetworkRecord, ip: string | undefined, role: 'gw' | 'ep'): Promise<void> {
    const addr = ip?.split('/')[0];
    if (!addr) return;
    const ls = findSwitch(this.ctx.nb, net.ovn!.switch);
    if (!ls || externalIds(ls)[ADDR_PREFIX + addr] !== undefined) return;
    if (!(await this.book(net).reserve(addr, role))) this.ctx.log.error({ network: net.id.slice(0, 12), address: addr }, 'address taken by another host while NB had lost its reservation: two containers now share it');
  }

  /** Whether NB still has the network's switch with this host's reference on it, and its router port. */
  bound(net: NetworkRecord): boolean {
    const ls = net.ovn && findSwitch(this.ctx.nb, net.ovn.switch);
    if (!ls || !(net.ovn!.ref in ls.external_ids)) return false;
    const routed = net.options.ovn?.router && net.ipv4.some((d) => d.Gateway);
    return !routed || routerPeerAttached(this.ctx.nb, ls, net.ovn!.switch);
  }

  /** The endpoint's logical port, with MAC+IP port security. */
  async addPort(net: NetworkRecord, ep: Endpoint): Promise<void> {
    const ls = findSwitch(this.ctx.nb, net.ovn!.switch);
    if (!ls) throw new InputError(`logical switch ${net.ovn!.switch} of network ${net.id.slice(0, 12)} no longer exists in OVN; recreate the network`);
    const name = lspName(ep.id);
    if (findLsp(this.ctx.nb, name)) return;
    const ips = [ep.ipv4, ep.ipv6].filter((x): x is string => !!x);
    const dhcp = net.options.ovn!.dhcp ? findDhcp(this.ctx.nb, net.ovn!.switch) : undefined;
    // Its security groups in the same transaction: the port is never bound without its ACLs.
    await this.ctx.nb.transact([
      ...addLspOps(ls, {
        name, mac: ep.mac, ips, portSecurity: true, dhcpv4: dhcp?._uuid,
        externalIds: { [KEY.host]: this.ctx.host(), [EP.network]: net.id, [EP.endpoint]: ep.id },
      }),
      ...setMembershipOps(this.ctx.nb, named('newlsp'), sgKeys(net.options.tenantId, ep.securityGroups), []),
      ...setLspQosOps(this.ctx.nb, ls, name, endpointQos(net, ep)),
    ]);
  }

  /** The endpoint's QoS rows as its record says (qos.set). */
  async setQos(net: NetworkRecord, ep: Endpoint): Promise<void> {
    const name = lspName(ep.id);
    const lsp = findLsp(this.ctx.nb, name);
    if (!lsp) throw new Error(`logical port ${name} of endpoint ${ep.id.slice(0, 12)} is not in OVN NB`);
    await commitPlan(this.ctx.nb, () => {
      const ls = switchOfLsp(this.ctx.nb, lsp._uuid);
      if (!ls) throw new Error(`logical port ${name} is on no switch`);
      return setLspQosOps(this.ctx.nb, ls, name, endpointQos(net, ep));
    });
  }

  /** Port_Group memberships NB lost (a restored NB, a user's edit) put back; the drop group first of all. */
  async healGroups(net: NetworkRecord, ep: Endpoint): Promise<void> {
    const lsp = findLsp(this.ctx.nb, lspName(ep.id));
    const want = sgKeys(net.options.tenantId, ep.securityGroups);
    if (!lsp) return;
    const have = groupsOfPort(this.ctx.nb, lsp._uuid);
    const inDrop = !!nbByName(this.ctx.nb, PG, DROP_PG)?.ports.includes(lsp._uuid);
    if (want.length === have.length && want.every((k) => have.includes(k)) && inDrop === want.length > 0) return;
    this.ctx.log.info({ endpoint: ep.id.slice(0, 12), want, have }, 'security group memberships differ in NB: setting them again');
    await commitPlan(this.ctx.nb, () => setMembershipOps(this.ctx.nb, lsp, want, have));
  }

  /** An endpoint's Port_Group memberships (sg.attach/detach, and heal when NB lost some). */
  async setGroups(ep: Endpoint, keys: string[], previous: string[]): Promise<void> {
    const lsp = findLsp(this.ctx.nb, lspName(ep.id));
    if (!lsp) throw new Error(`logical port ${lspName(ep.id)} of endpoint ${ep.id.slice(0, 12)} is not in OVN NB`);
    await commitPlan(this.ctx.nb, () => setMembershipOps(this.ctx.nb, lsp, keys, previous));
  }

  async deletePort(endpointId: string): Promise<void> {
    const lsp = findLsp(this.ctx.nb, lspName(endpointId));
    if (!lsp) return;
    await this.ctx.nb.transact([...clearLspQosOps(this.ctx.nb, lsp.name), ...deleteLspOps(switchOfLsp(this.ctx.nb, lsp._uuid), lsp)]);
  }
}
