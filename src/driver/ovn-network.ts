// The OVN side of a network: its logical switch (bound by name across hosts), router port,
// DHCP options, and one logical switch port per endpoint. NB transactions here are separate
// from the local OVSDB ones, so each caller undoes the NB part when the local part fails.
import type { Db } from '../ovs/db';
import { externalIds } from '../ovs/db';
import type { Operation } from '../ovsdb/types';
import { ConflictError, InputError } from '../util/errors';
import type { Logger } from '../util/log';
import { AddressBook } from '../ovn/address-book';
import { addRefOps, createSwitchOps, deleteUnreferencedSwitchOps, dropRefOps, findSwitch, LS, refKey, switchRefs } from '../ovn/logical-switch';
import { addLspOps, deleteLspOps, findLsp, lspName, switchOfLsp } from '../ovn/logical-switch-port';
import { connectSwitchOps, createRouterOps, disconnectSwitchOps, findRouter, routerPortName } from '../ovn/logical-router';
import { createDhcpOps, deleteDhcpOps, findDhcp } from '../ovn/dhcp-options';
import { findByName } from '../ovs/db';
import { nbOwned } from '../ovn/nb';
import { createGatewayOps, deleteNatOps, dnatAndSnatOps, externalAddress, findGatewayPort, lbVipOps, natRowsOf, snatOps } from '../ovn/gateway';
import type { PublishedPort } from '../net/firewall';
import { macFor } from './mac';
import type { Endpoint, NetworkRecord } from './model';

export interface OvnContext {
  nb: Db;
  /** This chassis' system-id: names the host in reservations and references. */
  host: () => string;
  log: Logger;
}

/** Runs an NB transaction that may lose a creation race (a `wait` fails): then re-reads once. */
async function raceTolerant(ctx: OvnContext, attempt: () => Operation[]): Promise<void> {
  try {
    await ctx.nb.transact(attempt());
  } catch (err) {
    if (!/timed out|wait/i.test(String(err))) throw err;
    await new Promise((r) => setTimeout(r, 20));
    await ctx.nb.transact(attempt());
  }
}

export class OvnNetworks {
  constructor(private readonly ctx: OvnContext) {}

  book(net: NetworkRecord): AddressBook {
    return new AddressBook(this.ctx.nb, net.ovn!.switch, this.ctx.host());
  }

  /** Creates or binds the switch, connects it to the tenant's router, sets up DHCP. */
  async bind(net: NetworkRecord): Promise<void> {
    const o = net.options.ovn!;
    const subnet = net.ipv4[0]?.Pool ?? '';
    const ref = refKey(this.ctx.host(), net.id);
    await raceTolerant(this.ctx, () => {
      const ls = findSwitch(this.ctx.nb, o.switch);
      if (!ls) return createSwitchOps(o.switch, subnet, ref);
      const have = externalIds(ls)['ocn-subnet'];
      if (have && subnet && have !== subnet && subnet !== '0.0.0.0/0') {
        throw new ConflictError(`ovn.switch ${o.switch} carries subnet ${have}; this network has ${subnet}. Use the same --subnet on every host`);
      }
      return addRefOps(ls, ref);
    });
    net.ovn = { switch: o.switch, ref };
    const ls = findSwitch(this.ctx.nb, o.switch);
    if (!ls) throw new Error(`logical switch ${o.switch} vanished while binding`);
    net.ovn.createdSwitch = nbOwned(ls, 'switch');
    const gw = net.ipv4.find((d) => d.Gateway)?.Gateway;
    if (o.router && gw) {
      if (!findByName(this.ctx.nb, 'Logical_Router_Port', routerPortName(o.switch))) {
        await raceTolerant(this.ctx, () => {
          const router = findRouter(this.ctx.nb, o.router!);
          const lsNow = findSwitch(this.ctx.nb, o.switch)!;
          const mac = macFor(gw, undefined, o.switch);
          return router ? connectSwitchOps(router, lsNow, o.switch, gw, mac)
            : [...createRouterOps(o.router!), ...connectSwitchOps(['named-uuid', 'newlr'], lsNow, o.switch, gw, mac)];
        }).catch((err) => {
          // Another host connected the same switch at the same moment: its port is as good.
          if (!findByName(this.ctx.nb, 'Logical_Router_Port', routerPortName(o.switch))) throw err;
        });
      }
    }
    if (o.router && o.gateway) await this.ensureGateway(o.router, o.gateway, subnet, net.id);
    if (o.dhcp && subnet && subnet !== '0.0.0.0/0' && !findDhcp(this.ctx.nb, o.switch)) {
      const serverIp = gw ? gw.split('/')[0] : subnet.split('/')[0];
      await this.ctx.nb.transact(createDhcpOps(o.switch, {
        cidr: subnet, router: gw?.split('/')[0], serverId: serverIp, serverMac: macFor(gw ?? subnet, undefined, o.switch),
        dns: o.dns, leaseTime: o.leaseTime, domain: o.domain, mtu: net.mtu,
      }));
    }
  }

  /** Gateway port on the chosen chassis, external switch, default route, SNAT for the subnet. */
  private async ensureGateway(router: string, g: NonNullable<NetworkRecord['options']['ovn']>['gateway'] & object, subnet: string, networkId: string): Promise<void> {
    const lr = () => findRouter(this.ctx.nb, router);
    if (!lr()) throw new Error(`router ${router} is missing`);
    if (!findGatewayPort(this.ctx.nb, router)) {
      const mac = macFor(g.externalIp, undefined, router);
      await this.ctx.nb.transact(createGatewayOps(lr()!, { router, chassis: g.chassis, externalIp: g.externalIp, nextHop: g.nextHop, physnet: g.physnet, mac })).catch((err) => {
        if (!findGatewayPort(this.ctx.nb, router)) throw err; // else another host made it at the same moment
      });
    }
    const ext = externalAddress(this.ctx.nb, router)!;
    if (subnet && !natRowsOf(this.ctx.nb, lr()!).some((n) => n.type === 'snat' && n.logical_ip === subnet)) {
      await this.ctx.nb.transact(snatOps(lr()!, ext, subnet, networkId));
    }
  }

  /** Published ports of an OVN network: VIPs on the router's load balancers at its external address. */
  async publish(net: NetworkRecord, before: PublishedPort[], after: PublishedPort[]): Promise<void> {
    const router = net.options.ovn?.router;
    const lr = router ? findRouter(this.ctx.nb, router) : undefined;
    const ext = router ? externalAddress(this.ctx.nb, router) : undefined;
    if (!router || !lr || !ext) {
      if (after.length) throw new InputError(`published ports on OVN network ${net.id.slice(0, 12)} need a router with a gateway (ovn.gateway_chassis, ovn.external_ip, ovn.external_gateway)`);
      return;
    }
    const ops: Operation[] = [];
    for (const proto of ['tcp', 'udp', 'sctp'] as const) {
      const del = before.filter((p) => p.proto === proto && !p.containerIp.includes(':')).map((p) => `${ext}:${p.hostPort}`);
      const add: Record<string, string> = {};
      for (const p of after) if (p.proto === proto && !p.containerIp.includes(':')) add[`${ext}:${p.hostPort}`] = `${p.containerIp}:${p.containerPort}`;
      if (del.length || Object.keys(add).length) ops.push(...lbVipOps(this.ctx.nb, lr, router, proto, add, del.filter((k) => !(k in add))));
    }
    if (ops.length) await this.ctx.nb.transact(ops);
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
    for (const lr of this.ctx.nb.rows('Logical_Router')) {
      for (const n of natRowsOf(this.ctx.nb, lr)) out.push({ router: String(lr.name), type: String(n.type), external_ip: String(n.external_ip), logical_ip: String(n.logical_ip) });
    }
    return out;
  }

  /**
   * Drops this network's reference; the last one removes what the plugin created. The decision
   * is taken on a cache that has seen our own change, hence every change committed before it.
   */
  async unbind(net: NetworkRecord): Promise<void> {
    if (!net.ovn) return;
    const name = net.ovn.switch;
    const ref = net.ovn.ref;
    const ls = findSwitch(this.ctx.nb, name);
    if (!ls) return;
    await this.ctx.nb.transact(dropRefOps(ls, ref));
    try {
      await this.ctx.nb.waitFor(LS, (r) => (r._uuid === ls._uuid && !(ref in externalIds(r)) ? true : undefined), 5000);
    } catch {
      return; // the switch went away meanwhile
    }
    const now = findSwitch(this.ctx.nb, name);
    if (!now || !nbOwned(now, 'switch') || switchRefs(now).length) return;
    const ops = [...deleteUnreferencedSwitchOps(now), ...disconnectSwitchOps(this.ctx.nb, name)];
    const router = net.options.ovn?.router ? findRouter(this.ctx.nb, net.options.ovn.router) : undefined;
    const subnet = net.ipv4[0]?.Pool;
    if (router && subnet) for (const n of natRowsOf(this.ctx.nb, router)) if (n.type === 'snat' && n.logical_ip === subnet && nbOwned(n, 'nat')) ops.push(...deleteNatOps(router, n));
    const dhcp = findDhcp(this.ctx.nb, name);
    if (dhcp && nbOwned(dhcp, 'dhcp')) ops.push(...deleteDhcpOps(dhcp));
    await this.ctx.nb.transact(ops).catch((err) => this.ctx.log.info({ switch: name, err: String(err) }, 'switch kept: another network bound it meanwhile'));
  }

  /** The endpoint's logical port, with MAC+IP port security. */
  async addPort(net: NetworkRecord, ep: Endpoint): Promise<void> {
    const ls = findSwitch(this.ctx.nb, net.ovn!.switch);
    if (!ls) throw new InputError(`logical switch ${net.ovn!.switch} of network ${net.id.slice(0, 12)} no longer exists in OVN; recreate the network`);
    const name = lspName(ep.id);
    if (findLsp(this.ctx.nb, name)) return;
    const ips = [ep.ipv4, ep.ipv6].filter((x): x is string => !!x);
    const dhcp = net.options.ovn!.dhcp ? findDhcp(this.ctx.nb, net.ovn!.switch) : undefined;
    await this.ctx.nb.transact(addLspOps(ls, {
      name, mac: ep.mac, ips, portSecurity: true, dhcpv4: dhcp?._uuid,
      externalIds: { 'ocn-host': this.ctx.host(), 'ocn-network': net.id, 'ocn-endpoint': ep.id },
    }));
  }

  async deletePort(endpointId: string): Promise<void> {
    const lsp = findLsp(this.ctx.nb, lspName(endpointId));
    if (!lsp) return;
    await this.ctx.nb.transact(deleteLspOps(switchOfLsp(this.ctx.nb, lsp._uuid), lsp));
  }

  /** Logical ports this host created whose endpoint it no longer knows (crash leftovers). */
  strayPorts(known: Set<string>, networks: Set<string>): string[] {
    const out: string[] = [];
    for (const lsp of this.ctx.nb.rows('Logical_Switch_Port')) {
      const ids = externalIds(lsp);
      if (!nbOwned(lsp, 'port') || ids['ocn-host'] !== this.ctx.host() || !ids['ocn-endpoint']) continue;
      if (!known.has(ids['ocn-endpoint']) || !networks.has(ids['ocn-network'])) out.push(ids['ocn-endpoint']);
    }
    return out;
  }

}
