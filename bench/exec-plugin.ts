// The comparison for the attach path: the same protocol stack (the product's HTTP handler, zod
// schemas and IPAM over OVSDB), but the OVS and link work done the way exec-based plugins do it,
// one subprocess per step:
//
//   CreateEndpoint  ip link add H mtu M type veth peer name C mtu M address MAC
//                   ip link set H up
//                   ethtool -K H tx off; ethtool -K C tx off      (netdev datapath only)
//                   ovs-vsctl add-port BR H tag=V -- set Interface H external_ids:...
//                   (ovs-vsctl waits for ovs-vswitchd, so Join has nothing left to wait for)
//   DeleteEndpoint  ovs-vsctl --if-exists del-port BR H; ip link del H
//   CreateNetwork   ovs-vsctl add-port BR G tag=V -- set Interface G type=internal
//                   ethtool -K G tx off; ip link set G mtu M; ip addr add GW dev G; ip link set G up
//                   + the product's own firewall (one iptables-restore), identical on both sides
//
// It is deliberately not a strawman: the veth's peer gets its MAC and MTU in the same `ip link add`,
// and Join does not record the sandbox (the product does, in one more OVSDB transaction).
// Veths are named ocbh*/ocbc* so no running product daemon takes them for orphans of its own.
//
// Started like the daemon: node exec-plugin.js daemon --name N --plugin-dir D --ovsdb R --log-level L
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { listenPluginSocket } from '../src/server/plugin-server';
import { createLogger, LogLevel } from '../src/util/log';
import { OvsdbClient } from '../src/ovsdb/client';
import { OvsKvStore } from '../src/ovs/kv-store';
import { RootExternalIds } from '../src/ovs/open-vswitch';
import { Ipam, parseAutoPoolRange } from '../src/ipam/ipam';
import { Firewall, FirewallState } from '../src/net/firewall';
import { dbFromClient } from '../src/daemon';
import { macFor } from '../src/driver/mac';
import { KeyedMutex } from '../src/util/keyed-mutex';
import { InputError } from '../src/util/errors';
import type * as P from '../src/protocol/network';

const execFileP = promisify(execFile);

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    return (await execFileP(cmd, args, { timeout: 60_000 })).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr || err.message).trim()}`);
  }
}

const NETDEV = !require('node:fs').existsSync('/sys/module/openvswitch');
export const EXEC_HOST_PREFIX = 'ocbh';
export const EXEC_PEER_PREFIX = 'ocbc';
export const EXEC_GW_PREFIX = 'ocbg';

interface Net {
  id: string;
  bridge: string;
  createdBridge: boolean;
  vlan?: number;
  mtu: number;
  gateway?: string;
  gwPort?: string;
  pools: string[];
}
interface Ep {
  id: string;
  net: Net;
  host: string;
  peer: string;
  mac: string;
}

class ExecNetworkDriver implements P.NetworkDriver {
  readonly networks = new Map<string, Net>();
  readonly endpoints = new Map<string, Ep>();
  private readonly lock = new KeyedMutex();
  firewall?: Firewall;

  constructor(private readonly name: string) {}

  firewallState(): FirewallState {
    const s: FirewallState = { v4: { networks: [], ports: [] }, v6: { networks: [], ports: [] } };
    for (const n of this.networks.values()) if (n.gwPort) s.v4.networks.push({ id: n.id, subnets: n.pools, gateway: n.gwPort });
    return s;
  }

  async getCapabilities(): Promise<P.CapabilitiesResponse> {
    return { Scope: 'local', ConnectivityScope: 'local' };
  }
  async gwAllocCheck(): Promise<P.GwAllocCheckResponse> {
    return {};
  }

  async createNetwork(req: P.CreateNetworkRequest): Promise<P.Empty> {
    return this.lock.run(`net:${req.NetworkID}`, async () => {
      if (this.networks.has(req.NetworkID)) return {};
      const g = (req.Options?.['com.docker.network.generic'] ?? {}) as Record<string, string>;
      const bridge = g.bridge ?? 'br-int';
      const v4 = req.IPv4Data ?? [];
      const net: Net = {
        id: req.NetworkID, bridge, createdBridge: false,
        vlan: g.vlan ? Number(g.vlan) : undefined, mtu: g.mtu ? Number(g.mtu) : 1500,
        gateway: (g.gateway ?? 'local') === 'local' ? v4.find((d) => d.Gateway)?.Gateway : undefined,
        pools: v4.map((d) => d.Pool),
      };
      if ((await execFileP('ovs-vsctl', ['br-exists', bridge]).then(() => 0, (e: { code?: number }) => e.code ?? 1)) !== 0) {
        await sh('ovs-vsctl', ['--may-exist', 'add-br', bridge, '--', 'set', 'Bridge', bridge, `datapath_type=${NETDEV ? 'netdev' : 'system'}`]);
        net.createdBridge = true;
      }
      if (net.gateway) {
        const gw = `${EXEC_GW_PREFIX}${req.NetworkID.slice(0, 11)}`;
        await sh('ovs-vsctl', ['add-port', bridge, gw, ...(net.vlan ? [`tag=${net.vlan}`] : []), '--', 'set', 'Interface', gw, 'type=internal']);
        net.gwPort = gw;
        if (NETDEV) await sh('ethtool', ['-K', gw, 'tx', 'off']);
        await sh('ip', ['link', 'set', gw, 'mtu', String(net.mtu)]);
        await sh('ip', ['addr', 'add', net.gateway, 'dev', gw]);
        await sh('ip', ['link', 'set', gw, 'up']);
      }
      this.networks.set(net.id, net);
      if (net.gwPort) await this.firewall!.apply();
      return {};
    });
  }

  async deleteNetwork(req: P.NetworkIdRequest): Promise<P.Empty> {
    return this.lock.run(`net:${req.NetworkID}`, async () => {
      const net = this.networks.get(req.NetworkID);
      if (!net) return {};
      if (net.gwPort) await sh('ovs-vsctl', ['--if-exists', 'del-port', net.bridge, net.gwPort]);
      this.networks.delete(net.id);
      if (net.gwPort) await this.firewall!.apply();
      if (net.createdBridge && ![...this.networks.values()].some((n) => n.bridge === net.bridge)) {
        await sh('ovs-vsctl', ['--if-exists', 'del-br', net.bridge]);
      }
      return {};
    });
  }

  async allocateNetwork(req: P.AllocateNetworkRequest): Promise<P.AllocateNetworkResponse> {
    return { Options: req.Options ?? {} };
  }
  async freeNetwork(): Promise<P.Empty> {
    return {};
  }

  async createEndpoint(req: P.CreateEndpointRequest): Promise<P.CreateEndpointResponse> {
    return this.lock.run(`ep:${req.EndpointID}`, async () => {
      const net = this.networks.get(req.NetworkID);
      if (!net) throw new InputError(`CreateEndpoint: network ${req.NetworkID.slice(0, 12)} is not known`);
      const have = this.endpoints.get(req.EndpointID);
      if (have) return { Interface: { MacAddress: have.mac } };
      const addr = req.Interface?.Address || undefined;
      const mac = req.Interface?.MacAddress || macFor(addr, req.Interface?.AddressIPv6 || undefined, req.EndpointID);
      const id = req.EndpointID.slice(0, 11);
      const ep: Ep = { id: req.EndpointID, net, host: EXEC_HOST_PREFIX + id, peer: EXEC_PEER_PREFIX + id, mac };
      const mtu = String(net.mtu);
      await sh('ip', ['link', 'add', ep.host, 'mtu', mtu, 'type', 'veth', 'peer', 'name', ep.peer, 'mtu', mtu, 'address', mac]);
      try {
        await sh('ip', ['link', 'set', ep.host, 'up']);
        if (NETDEV) {
          await sh('ethtool', ['-K', ep.host, 'tx', 'off']);
          await sh('ethtool', ['-K', ep.peer, 'tx', 'off']);
        }
        const ids = [`external_ids:ocn-owner=${this.name}`, `external_ids:ocn-endpoint=${ep.id}`, `external_ids:ocn-network=${net.id}`, `external_ids:attached-mac="${mac}"`];
        if (addr) ids.push(`external_ids:ocn-ip="${addr}"`);
        await sh('ovs-vsctl', ['add-port', net.bridge, ep.host, ...(net.vlan ? [`tag=${net.vlan}`] : []), '--', 'set', 'Interface', ep.host, ...ids]);
      } catch (e) {
        await sh('ip', ['link', 'del', ep.host]).catch(() => undefined);
        throw e;
      }
      this.endpoints.set(ep.id, ep);
      return { Interface: { MacAddress: mac } };
    });
  }

  async endpointOperInfo(): Promise<P.EndpointOperInfoResponse> {
    return { Value: {} };
  }

  async deleteEndpoint(req: P.EndpointIdRequest): Promise<P.Empty> {
    return this.lock.run(`ep:${req.EndpointID}`, async () => {
      const ep = this.endpoints.get(req.EndpointID);
      if (!ep) return {};
      await sh('ovs-vsctl', ['--if-exists', 'del-port', ep.net.bridge, ep.host]);
      await sh('ip', ['link', 'del', ep.host]).catch(() => undefined);
      this.endpoints.delete(ep.id);
      return {};
    });
  }

  async join(req: P.JoinRequest): Promise<P.JoinResponse> {
    const net = this.networks.get(req.NetworkID);
    const ep = this.endpoints.get(req.EndpointID);
    if (!net || !ep) throw new InputError(`Join: endpoint ${req.EndpointID.slice(0, 12)} does not exist`);
    const res: P.JoinResponse = { InterfaceName: { SrcName: ep.peer, DstPrefix: 'eth' }, DisableGatewayService: true };
    if (net.gateway) res.Gateway = net.gateway.split('/')[0];
    return res;
  }

  async leave(): Promise<P.Empty> {
    return {};
  }
  async discoverNew(): Promise<P.Empty> {
    return {};
  }
  async discoverDelete(): Promise<P.Empty> {
    return {};
  }
  async programExternalConnectivity(): Promise<P.Empty> {
    return {};
  }
  async revokeExternalConnectivity(): Promise<P.Empty> {
    return {};
  }
}

function flag(argv: string[], name: string, def: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : def;
}

async function main(argv: string[]): Promise<void> {
  const name = flag(argv, '--name', 'ocn-exec');
  const pluginDir = flag(argv, '--plugin-dir', '/run/docker/plugins');
  const ovsdb = flag(argv, '--ovsdb', 'unix:/var/run/openvswitch/db.sock');
  const log = createLogger(flag(argv, '--log-level', 'warn') as LogLevel, name);
  // Like the daemon: the root row's records are read once (a select), not monitored.
  const client = new OvsdbClient({ remote: ovsdb, database: 'Open_vSwitch', monitor: { Open_vSwitch: { columns: ['cur_cfg'] } } });
  const root = new RootExternalIds(dbFromClient(client));
  const ipam = new Ipam(new OvsKvStore(dbFromClient(client), root), name, {
    v4: parseAutoPoolRange('10.128.0.0/11:24', 'pools'),
    v6: parseAutoPoolRange('fd6f:636e::/32:64', 'pools6'),
  });
  const driver = new ExecNetworkDriver(name);
  driver.firewall = new Firewall(name, () => driver.firewallState(), log);
  const ready = client.connect().then(() => root.refresh()).then(() => ipam.load());
  const server = await listenPluginSocket({ socketPath: path.join(pluginDir, `${name}.sock`), drivers: { network: driver, ipam }, logger: log, ready: () => ready });
  const stop = (): void => {
    server.close(() => {
      void client.close();
      process.exit(0);
    });
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) void main(process.argv.slice(3));
