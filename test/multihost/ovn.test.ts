// OVN across three lab hosts (network namespaces, each with its own OVS and ovn-controller,
// OVN central in its own namespace), with the real daemon in every host.
import { endpointPort } from '../harness/ovs';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { startLab, Lab } from '../lab/lab';
import type { Plugin } from '../harness/plugin';
import { run, runOk } from '../harness/exec';
import { repoRoot } from '../harness/paths';
import { attach, createNetwork, detach, hexId, ok, ping, Ctr, OvnNet, ovnChassisUp, tcpHello } from './attach';

let lab: Lab;
const plugins: Plugin[] = [];
const ctrs: Ctr[] = [];
const nsNames: string[] = [];
let blue: OvnNet[] = [];
const tag = Math.random().toString(16).slice(2, 6);
const ns = (n: string) => { const x = `ocnm${tag}${n}`; nsNames.push(x); return x; };

before(async () => {
  lab = await startLab({ hosts: 3, ovn: true, chassis: 'external', encap: 'geneve' });
  await ovnChassisUp(lab);
  for (const h of lab.hosts) plugins.push(await h.startPlugin(['--ovn-nb', lab.nbRemote]));
});

after(async () => {
  for (const n of nsNames) await run('ip', ['netns', 'del', n]);
  await lab?.destroy();
});

test('chassis setup made every host an OVN chassis: status says bound', async () => {
  const r = await lab.hosts[0].cli(['chassis', 'status', '--ovsdb', lab.hosts[0].ovsdbRemote, '--json']);
  const st = JSON.parse(r.stdout) as { registered: boolean; bound: boolean; encapType: string; encapIp: string; tunnels: number };
  assert.equal(st.bound, true, r.stdout + r.stderr);
  assert.equal(st.registered, true);
  assert.equal(st.encapType, 'geneve');
  assert.equal(st.encapIp, lab.hosts[0].ip);
  assert.equal(st.tunnels, 2, 'a tunnel to each other chassis');
});

test('the same network on three hosts is one logical switch; containers reach each other over Geneve', async () => {
  blue = [];
  for (const p of plugins) blue.push(await createNetwork(p, '10.50.0.0/24', { 'ovn.switch': 'blue', tenant_id: 't1' }));
  assert.equal(await lab.nbctl('--bare', '--columns=name', 'find', 'Logical_Switch', 'name=blue'), 'blue');
  for (let i = 0; i < 3; i++) ctrs.push(await attach(lab.hosts[i], plugins[i], blue[i], ns(`b${i}`)));
  const ips = ctrs.map((c) => c.ip);
  assert.equal(new Set(ips).size, 3, `distinct addresses across hosts: ${ips}`);
  assert.ok(await ping(ctrs[0].ns, ctrs[1].ip), 'h1 -> h2');
  assert.ok(await ping(ctrs[0].ns, ctrs[2].ip), 'h1 -> h3');
  assert.ok(await ping(ctrs[2].ns, ctrs[1].ip), 'h3 -> h2');
  // Port security: a spoofed source address is dropped.
  await runOk('ip', ['-n', ctrs[0].ns, 'addr', 'add', '10.50.0.200/24', 'dev', 'eth0']);
  const spoof = await run('ip', ['netns', 'exec', ctrs[0].ns, 'busybox', 'ping', '-c', '2', '-W', '1', '-I', '10.50.0.200', ctrs[1].ip], { timeoutMs: 15_000 });
  assert.notEqual(spoof.code, 0, 'traffic from an address the port does not own is dropped');
  await runOk('ip', ['-n', ctrs[0].ns, 'addr', 'del', '10.50.0.200/24', 'dev', 'eth0']);
  const lsp = `ocn-${ctrs[0].endpointId}`;
  assert.equal(await lab.nbctl('lsp-get-port-security', lsp), `${await lab.nbctl('lsp-get-addresses', lsp)}`);
  console.log(`# cross-host attach: Join until ovn-installed: ${ctrs.map((c) => c.joinMs).join(', ')} ms`);
  // TCP across hosts (checksum offload handled on the veths).
  assert.match(await tcpHello(ctrs[0], ctrs[1], 7001, 'hello-ovn'), /hello-ovn/);
});

test("routing between two subnets of one tenant; another tenant's network is unreachable", async () => {
  const green = await createNetwork(plugins[1], '10.51.0.0/24', { 'ovn.switch': 'green', tenant_id: 't1' });
  const g = await attach(lab.hosts[1], plugins[1], green, ns('g1'));
  ctrs.push(g);
  assert.ok(await ping(g.ns, ctrs[0].ip), 'green (h2) -> blue (h1) through router ocn-t1');
  assert.ok(await ping(ctrs[2].ns, g.ip), 'blue (h3) -> green (h2)');
  const red = await createNetwork(plugins[2], '10.52.0.0/24', { 'ovn.switch': 'red', tenant_id: 't2' });
  const r = await attach(lab.hosts[2], plugins[2], red, ns('r2'));
  ctrs.push(r);
  assert.ok(!(await ping(r.ns, ctrs[0].ip, 1)), 'tenant t2 never reaches tenant t1');
  assert.ok(!(await ping(ctrs[0].ns, r.ip, 1)), 'and the other way round');
  assert.match(await lab.nbctl('lr-list'), /ocn-t1/);
  assert.match(await lab.nbctl('lr-list'), /ocn-t2/);
});

test('OVN DHCP: udhcpc in a container gets its lease (router, MTU, DNS)', async () => {
  const net = await createNetwork(plugins[0], '10.53.0.0/24', { 'ovn.switch': 'dhcp', tenant_id: 't3', dhcp: 'true', 'dhcp.dns': '10.53.0.53' });
  const c = await attach(lab.hosts[0], plugins[0], net, ns('d0'), { route: false });
  ctrs.push(c);
  await runOk('ip', ['-n', c.ns, 'addr', 'flush', 'dev', 'eth0']);
  const script = path.join(repoRoot(), 'test', 'multihost', 'udhcpc.sh');
  const r = await run('ip', ['netns', 'exec', c.ns, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', '5', '-T', '2', '-s', script], { timeoutMs: 40_000 });
  assert.match(r.stdout + r.stderr, new RegExp(`ip=${c.ip.replace(/\./g, '\\.')} `), r.stdout + r.stderr);
  assert.match(r.stdout, /router=10\.53\.0\.1/);
  assert.match(r.stdout, /dns=10\.53\.0\.53/);
  assert.match(r.stdout, /mtu=1500/);
  assert.match((await runOk('ip', ['-n', c.ns, 'route'])).stdout, /default via 10\.53\.0\.1/);
});

test("external DHCP: --ipam-driver null, the user's DHCP server on the switch leases the container an address", async () => {
  const id = hexId();
  await ok(plugins[1], 'NetworkDriver.CreateNetwork', {
    NetworkID: id, Options: { 'com.docker.network.generic': { 'ovn.switch': 'extdhcp' } },
    IPv4Data: [{ AddressSpace: 'null', Pool: '0.0.0.0/0' }], IPv6Data: [],
  });
  // The user's DHCP server: a namespace on host 3 bound to a logical port of the same switch.
  await lab.nbctl('lsp-add', 'extdhcp', 'lsp-dhcpsrv', '--', 'lsp-set-addresses', 'lsp-dhcpsrv', '0a:58:0a:3c:00:01 10.60.0.1');
  const srv = await lab.addNs('dhcpsrv', lab.hosts[2], { cidr: '10.60.0.1/24', mac: '0a:58:0a:3c:00:01', ifaceId: 'lsp-dhcpsrv' });
  const conf = `/tmp/ocn-udhcpd-${tag}.conf`;
  require('node:fs').writeFileSync(conf, `start 10.60.0.100\nend 10.60.0.150\ninterface eth0\nlease_file /tmp/ocn-udhcpd-${tag}.leases\npidfile /tmp/ocn-udhcpd-${tag}.pid\nopt router 10.60.0.1\nopt subnet 255.255.255.0\n`);
  require('node:fs').writeFileSync(`/tmp/ocn-udhcpd-${tag}.leases`, '');
  const server = run('ip', ['netns', 'exec', srv.ns, 'busybox', 'udhcpd', '-f', conf], { timeoutMs: 60_000 });
  // The container: no address from Docker (null IPAM), MAC-only port security.
  const endpointId = hexId();
  const ce = await ok<{ Interface: { MacAddress: string } }>(plugins[1], 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: endpointId, Interface: { Address: '', AddressIPv6: '', MacAddress: '' }, Options: {} });
  const join = await ok<{ InterfaceName: { SrcName: string }; Gateway?: string }>(plugins[1], 'NetworkDriver.Join', { NetworkID: id, EndpointID: endpointId, SandboxKey: '/x', Options: {} });
  assert.equal(join.Gateway, undefined, 'no gateway from the plugin: DHCP gives the route');
  assert.equal(await lab.nbctl('lsp-get-addresses', `ocn-${endpointId}`), ce.Interface.MacAddress);
  const c = ns('xd');
  await run('ip', ['netns', 'del', c]);
  await runOk('ip', ['netns', 'add', c]);
  await runOk('ip', ['-n', lab.hosts[1].ns, 'link', 'set', join.InterfaceName.SrcName, 'netns', c]);
  await runOk('ip', ['-n', c, 'link', 'set', join.InterfaceName.SrcName, 'name', 'eth0']);
  await runOk('ip', ['-n', c, 'link', 'set', 'eth0', 'up']);
  const script = path.join(repoRoot(), 'test', 'multihost', 'udhcpc.sh');
  const r = await run('ip', ['netns', 'exec', c, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', '6', '-T', '2', '-s', script], { timeoutMs: 40_000 });
  srv.exec('sh', ['-c', `kill $(cat /tmp/ocn-udhcpd-${tag}.pid)`]).catch(() => undefined);
  await server;
  // udhcpd's range is .100-.150 inclusive; it starts from a hash of the MAC, so .150 happens.
  assert.match(r.stdout, /ip=10\.60\.0\.(1[0-4]\d|150) /, r.stdout + r.stderr);
  assert.match(r.stdout, /router=10\.60\.0\.1/);
  assert.ok(await ping(c, '10.60.0.1'), 'the leased address works on the switch');
  await run('ip', ['netns', 'del', c]);
  await ok(plugins[1], 'NetworkDriver.DeleteEndpoint', { NetworkID: id, EndpointID: endpointId });
  await srv.destroy();
  await lab.nbctl('lsp-del', 'lsp-dhcpsrv');
  await ok(plugins[1], 'NetworkDriver.DeleteNetwork', { NetworkID: id });
});

test('50 concurrent attaches spread over 3 hosts get 50 distinct addresses', async () => {
  const t0 = Date.now();
  const eps = await Promise.all(Array.from({ length: 50 }, async (_, k) => {
    const i = k % 3;
    const a = await ok<{ Address: string }>(plugins[i], 'IpamDriver.RequestAddress', { PoolID: blue[i].poolId, Address: '', Options: null });
    const endpointId = hexId();
    await ok(plugins[i], 'NetworkDriver.CreateEndpoint', { NetworkID: blue[i].id, EndpointID: endpointId, Interface: { Address: a.Address, AddressIPv6: '', MacAddress: '' }, Options: {} });
    await ok(plugins[i], 'NetworkDriver.Join', { NetworkID: blue[i].id, EndpointID: endpointId, SandboxKey: '/var/run/docker/netns/x', Options: {} });
    return { i, endpointId, address: a.Address };
  }));
  const ms = Date.now() - t0;
  const addrs = eps.map((e) => e.address);
  assert.equal(new Set(addrs).size, 50, addrs.join(' '));
  for (const ip of addrs) assert.ok(!ctrs.some((c) => `${c.ip}/24` === ip), `${ip} is not one already attached`);
  const lsps = (await lab.nbctl('--bare', '--columns=addresses', 'find', 'Logical_Switch_Port', 'external_ids:ocn-owner=ovs-container-network')).split('\n').filter(Boolean);
  for (const a of addrs) assert.ok(lsps.some((l) => l.endsWith(` ${a.split('/')[0]}`)), `an OVN port holds ${a}`);
  console.log(`# 50 concurrent full attaches (RequestAddress+CreateEndpoint+Join until ovn-installed) over 3 hosts in ${ms} ms`);
  await Promise.all(eps.map(async (e) => {
    await ok(plugins[e.i], 'NetworkDriver.DeleteEndpoint', { NetworkID: blue[e.i].id, EndpointID: e.endpointId });
    await ok(plugins[e.i], 'IpamDriver.ReleaseAddress', { PoolID: blue[e.i].poolId, Address: e.address.split('/')[0] });
  }));
});

test('gateway on a chosen chassis: SNAT egress, published port (-p) and an API NAT rule, to a namespace standing in for the internet', async () => {
  const gwHost = lab.hosts[0];
  const inet = ns('inet');
  await run('ip', ['netns', 'del', inet]);
  await runOk('ip', ['netns', 'add', inet]);
  await gwHost.vsctl('--may-exist', 'add-br', 'br-ex', '--', 'set', 'Bridge', 'br-ex', 'datapath_type=netdev');
  await runOk('ip', ['-n', gwHost.ns, 'link', 'add', 'exv0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', inet]);
  for (const [where, dev] of [[gwHost.ns, 'exv0'], [inet, 'eth0']]) {
    await runOk('ip', ['netns', 'exec', where, 'ethtool', '-K', dev, 'tx', 'off']);
    await runOk('ip', ['-n', where, 'link', 'set', dev, 'up']);
  }
  await runOk('ip', ['-n', inet, 'link', 'set', 'lo', 'up']);
  await runOk('ip', ['-n', inet, 'addr', 'add', '203.0.113.1/24', 'dev', 'eth0']);
  await gwHost.vsctl('add-port', 'br-ex', 'exv0');
  await gwHost.chassisSetup(['--bridge-mappings', 'physnet:br-ex']);
  const chassis = (await gwHost.systemId())!;
  const opts = { 'ovn.switch': 'web', tenant_id: 't9', 'ovn.gateway_chassis': chassis, 'ovn.external_ip': '203.0.113.10/24', 'ovn.external_gateway': '203.0.113.1' };
  const web = [];
  for (const p of plugins) web.push(await createNetwork(p, '10.54.0.0/24', opts));
  const c2 = await attach(lab.hosts[1], plugins[1], web[1], ns('w1'));
  const c3 = await attach(lab.hosts[2], plugins[2], web[2], ns('w2'));
  ctrs.push(c2, c3);
  await lab.nbctl('--wait=hv', 'sync');
  // Egress: the internet sees the router's external address, not the container's.
  const server = run('ip', ['netns', 'exec', inet, 'python3', '-c',
    'import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(("203.0.113.1",9000));s.listen(1);c,a=s.accept();print(a[0]);c.sendall(b"hi\\n");c.close()'], { timeoutMs: 30_000 });
  await new Promise((r) => setTimeout(r, 500));
  let got = '';
  for (let i = 0; i < 5 && !got.includes('hi'); i++) {
    got = (await run('ip', ['netns', 'exec', c2.ns, 'busybox', 'nc', '-w', '3', '203.0.113.1', '9000'], { timeoutMs: 10_000 })).stdout;
  }
  const seen = await server;
  assert.match(got, /hi/, 'the container reaches the internet through the gateway chassis');
  assert.equal(seen.stdout.trim(), '203.0.113.10', 'SNAT to the router external address');
  // Published port: 203.0.113.10:8080 -> container c3 port 80.
  await ok(plugins[2], 'NetworkDriver.ProgramExternalConnectivity', { NetworkID: web[2].id, EndpointID: c3.endpointId,
    Options: { 'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 }] } });
  const web80 = run('ip', ['netns', 'exec', c3.ns, 'busybox', 'nc', '-l', '-p', '80', '-e', 'echo', 'published-ok'], { timeoutMs: 30_000 });
  await new Promise((r) => setTimeout(r, 300));
  let pub = '';
  for (let i = 0; i < 5 && !pub.includes('published-ok'); i++) {
    pub = (await run('ip', ['netns', 'exec', inet, 'busybox', 'nc', '-w', '3', '203.0.113.10', '8080'], { timeoutMs: 10_000 })).stdout;
  }
  await web80;
  assert.match(pub, /published-ok/, 'DNAT of the published port through the router load balancer');
  // The same port for a container on another host is refused, naming who has it.
  const portmap = (hostPort: number) => ({ 'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: hostPort, HostPortEnd: hostPort }] });
  const taken = await plugins[1].call<{ Err?: string }>('NetworkDriver.ProgramExternalConnectivity', { NetworkID: web[1].id, EndpointID: c2.endpointId, Options: portmap(8080) });
  assert.notEqual(taken.status, 200);
  assert.match(taken.body.Err ?? '', new RegExp(`8080/tcp: port is already allocated: 203.0.113.10:8080 is published to ${c3.ip.replace(/\./g, '\\.')}:80 by host ${await lab.hosts[2].systemId()}`));
  assert.match(await lab.nbctl('lb-list'), new RegExp(`203.0.113.10:8080\\s+${c3.ip.replace(/\./g, '\\.')}:80`), 'the VIP still leads to the first container');
  // Two hosts asking for one new port at the same moment: exactly one gets it.
  const race = await Promise.all([
    plugins[1].call('NetworkDriver.ProgramExternalConnectivity', { NetworkID: web[1].id, EndpointID: c2.endpointId, Options: portmap(8081) }),
    plugins[2].call('NetworkDriver.ProgramExternalConnectivity', { NetworkID: web[2].id, EndpointID: c3.endpointId, Options: portmap(8081) }),
  ]);
  assert.deepEqual(race.map((r) => r.status === 200).filter(Boolean).length, 1, JSON.stringify(race.map((r) => r.body)));
  await ok(plugins[1], 'NetworkDriver.RevokeExternalConnectivity', { NetworkID: web[1].id, EndpointID: c2.endpointId });
  await ok(plugins[2], 'NetworkDriver.RevokeExternalConnectivity', { NetworkID: web[2].id, EndpointID: c3.endpointId });
  assert.doesNotMatch(await lab.nbctl('lb-list'), /203.0.113.10:8080/, 'revoked');
  // An explicit 1:1 NAT through the daemon's API.
  const rpc = await plugins[0].call<{ result: unknown; error?: { message: string } }>('ocn/v1/rpc', { jsonrpc: '2.0', id: 1, method: 'nat.add', params: { router: 'ocn-t9', external_ip: '203.0.113.20', logical_ip: c2.ip } });
  assert.ok(!rpc.body.error, JSON.stringify(rpc.body));
  let pinged = false;
  for (let i = 0; i < 5 && !pinged; i++) pinged = await ping(inet, '203.0.113.20', 1);
  assert.ok(pinged, 'the internet reaches the container at its 1:1 NAT address');
});

test("kill -9 of one host's plugin: it reconciles without touching other hosts' ports", async () => {
  const before = await lab.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch_Port');
  const h2 = lab.hosts[1];
  const port = await endpointPort(ctrs[1].endpointId, (...a) => h2.vsctl(...a));
  const uuidBefore = await h2.vsctl('get', 'Interface', port, '_uuid');
  await plugins[1].kill9();
  await plugins[1].restart();
  await ok(plugins[1], 'NetworkDriver.EndpointOperInfo', { NetworkID: blue[1].id, EndpointID: ctrs[1].endpointId });
  assert.equal(await h2.vsctl('get', 'Interface', port, '_uuid'), uuidBefore, 'its live port was not recreated');
  assert.equal(await lab.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch_Port'), before, 'no logical port anywhere changed');
  assert.ok(await ping(ctrs[0].ns, ctrs[1].ip), 'h1 -> h2 still works');
  // and a new attach on the restarted host works
  const c = await attach(h2, plugins[1], blue[1], ns('n1'));
  ctrs.push(c);
  assert.ok(await ping(c.ns, ctrs[2].ip));
});

test('security groups across hosts: one definition in NB for every host, ACLs per rule, a remote group following its members', async () => {
  type Answer = { result?: unknown; error?: { message: string; data?: { code?: string } } };
  const call = async (p: Plugin, method: string, params: unknown): Promise<Answer> => (await p.call<Answer>('ocn/v1/rpc', { jsonrpc: '2.0', id: 1, method, params })).body;
  const must = async (p: Plugin, method: string, params: unknown) => { const a = await call(p, method, params); assert.ok(!a.error, `${method}: ${JSON.stringify(a.error)}`); return a.result; };
  await must(plugins[0], 'sg.create', { name: 'client', tenant: 'tsg', egress: [{ protocol: 'all', remote: '0.0.0.0/0' }] });
  await must(plugins[0], 'sg.create', { name: 'web', tenant: 'tsg', ingress: [{ protocol: 'tcp', ports: '8080', remote: '0.0.0.0/0' }, { protocol: 'icmp', remote: { group: 'client' } }], egress: [{ protocol: 'all', remote: '0.0.0.0/0' }] });
  // Created through host 1, seen by host 3: the definition lives in NB.
  const seen = (await must(plugins[2], 'sg.list', { tenant: 'tsg' })) as { name: string }[];
  assert.deepEqual(seen.map((g) => g.name), ['client', 'default', 'web']);
  const opts = { 'ovn.switch': 'sgsw', tenant_id: 'tsg', security_groups: 'web' };
  const nets = [];
  for (const p of plugins) nets.push(await createNetwork(p, '10.57.0.0/24', opts));
  const srv = await attach(lab.hosts[0], plugins[0], nets[0], ns('sgsrv'));
  const cli = await attach(lab.hosts[1], plugins[1], nets[1], ns('sgcli'), { endpointOptions: { security_groups: 'client' } });
  const other = await attach(lab.hosts[2], plugins[2], nets[2], ns('sgoth'));
  assert.equal((await tcpHello(cli, srv, 8080, 'web')).trim(), 'web', 'allowed port, across hosts');
  assert.equal(await tcpHello(cli, srv, 9090, 'no'), '', 'a port no rule allows');
  assert.ok(await ping(cli.ns, srv.ip), 'ICMP from a client member');
  assert.ok(!(await ping(other.ns, srv.ip, 1)), 'no ICMP from a non-member');
  assert.ok(!(await ping(srv.ns, cli.ip, 1)), 'client accepts nothing new; its own connections got their replies');
  // A running endpoint joins client on its host: the web group's ICMP rule lets it in.
  const t0 = Date.now();
  await must(plugins[2], 'sg.attach', { endpoint: other.endpointId, groups: ['client'] });
  let pinged = false;
  while (!pinged && Date.now() - t0 < 10_000) pinged = await ping(other.ns, srv.ip, 1);
  console.log(`# OVN: sg.attach on a running endpoint to traffic allowed: ${Date.now() - t0} ms`);
  assert.ok(pinged, 'member of client now');
  await must(plugins[2], 'sg.detach', { endpoint: other.endpointId, groups: ['client'] });
  const t1 = Date.now();
  let dropped = false;
  while (!dropped && Date.now() - t1 < 10_000) dropped = !(await ping(other.ns, srv.ip, 1));
  assert.ok(dropped, 'not a member any more');
  // NB loses the memberships (a user's edit, a restored database): each host's reconcile loop puts back its own.
  const pgs = (await lab.nbctl('--bare', '--columns=name', 'find', 'Port_Group', 'external_ids:ocn-owner=ovs-container-network')).split('\n').filter(Boolean);
  for (const pg of pgs) await lab.nbctl('clear', 'Port_Group', pg, 'ports');
  assert.ok(await ping(other.ns, srv.ip, 1), 'unfiltered while NB has lost the memberships');
  const t2 = Date.now();
  let refiltered = false;
  while (!refiltered && Date.now() - t2 < 15_000) refiltered = !(await ping(other.ns, srv.ip, 1));
  console.log(`# OVN: memberships NB lost restored by the reconcile loop, filtering again after ${Date.now() - t2} ms`);
  assert.ok(refiltered, 'filtered again');
  const inUse = await call(plugins[1], 'sg.delete', { name: 'web', tenant: 'tsg' });
  assert.equal(inUse.error?.data?.code, 'SECURITY_GROUP_IN_USE', JSON.stringify(inUse));
  for (const c of [srv, cli, other]) await detach(c);
  for (let i = 0; i < plugins.length; i++) await ok(plugins[i], 'NetworkDriver.DeleteNetwork', { NetworkID: nets[i].id });
  for (const name of ['web', 'client', 'default']) await must(plugins[0], 'sg.delete', { name, tenant: 'tsg' });
  assert.equal(await lab.nbctl('--bare', '--columns=name', 'find', 'Port_Group', 'external_ids:ocn-owner=ovs-container-network', 'external_ids:ocn-owner-type=security-group'), '', 'port groups of the deleted groups gone');
});

test('multicast=snoop on an OVN switch: the joined receiver on another host gets the stream, a bystander on a third host does not', async () => {
  const mcast = path.join(repoRoot(), 'test', 'harness', 'mcast.py');
  const group = '239.8.8.8';
  const nets = [];
  for (const p of plugins) nets.push(await createNetwork(p, '10.58.0.0/24', { 'ovn.switch': 'mcsw', multicast: 'snoop' }));
  assert.equal(await lab.nbctl('get', 'Logical_Switch', 'mcsw', 'other_config:mcast_snoop'), '"true"');
  const [snd, rcv, bys] = [
    await attach(lab.hosts[0], plugins[0], nets[0], ns('mcs')),
    await attach(lab.hosts[1], plugins[1], nets[1], ns('mcr')),
    await attach(lab.hosts[2], plugins[2], nets[2], ns('mcb')),
  ];
  const receiver = run('ip', ['netns', 'exec', rcv.ns, 'python3', mcast, 'recv', group, '5007', '5', rcv.ip], { timeoutMs: 20_000 });
  const capture = run('ip', ['netns', 'exec', bys.ns, 'timeout', '5', 'tcpdump', '-i', 'eth0', '-n', '-l', 'udp', 'and', 'dst', group], { timeoutMs: 20_000 });
  // ovn-controller turns the receiver's IGMP report into an IGMP_Group, northd into a multicast group.
  const t0 = Date.now();
  while (!(await lab.sbctl('--bare', '--columns=address', 'list', 'IGMP_Group').catch(() => '')).includes(group) && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 200));
  await run('ip', ['netns', 'exec', snd.ns, 'python3', mcast, 'send', group, '5007', '50', snd.ip], { timeoutMs: 20_000 });
  const got = Number((await receiver).stdout.trim().split('\n').pop());
  const seen = (await capture).stdout.split('\n').filter((l) => l.includes(group)).length;
  console.log(`# OVN multicast snoop: receiver ${got}/50 (another host), bystander ${seen} (a third host)`);
  assert.ok(got >= 45, `receiver got ${got}/50`);
  assert.equal(seen, 0, 'the bystander did not join and sees none of it');
  for (const c of [snd, rcv, bys]) await detach(c);
  for (let i = 0; i < plugins.length; i++) await ok(plugins[i], 'NetworkDriver.DeleteNetwork', { NetworkID: nets[i].id });
});

test('QoS through the daemons on an OVN network: -o qos.max_rate limits what a container sends to another host', async () => {
  const nets = [];
  for (const p of plugins.slice(0, 2)) nets.push(await createNetwork(p, '10.59.0.0/24', { 'ovn.switch': 'qossw', 'qos.max_rate': '50' }));
  const srv = await attach(lab.hosts[0], plugins[0], nets[0], ns('qsrv'));
  const cli = await attach(lab.hosts[1], plugins[1], nets[1], ns('qcli'));
  const server = run('ip', ['netns', 'exec', srv.ns, 'iperf3', '-s', '-1'], { timeoutMs: 30_000 });
  await new Promise((r) => setTimeout(r, 500));
  const r = await run('ip', ['netns', 'exec', cli.ns, 'iperf3', '-c', srv.ip, '-t', '3', '-O', '1', '-J'], { timeoutMs: 30_000 });
  await server;
  const mbit = (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
  console.log(`# OVN QoS through the daemon: 50 Mbit/s configured -> ${mbit.toFixed(1)} Mbit/s across hosts`);
  assert.ok(Math.abs(mbit - 50) / 50 <= 0.15, `${mbit} Mbit/s`);
  assert.match(await lab.nbctl('--bare', '--columns=match', 'list', 'QoS'), new RegExp(`inport == "ocn-${cli.endpointId}"`));
  // NB loses the rows (a user's edit): the host's reconcile loop writes them again.
  await lab.nbctl('clear', 'Logical_Switch', 'qossw', 'qos_rules');
  const t0 = Date.now();
  while (!(await lab.nbctl('--bare', '--columns=match', 'list', 'QoS')).includes(`ocn-${cli.endpointId}`) && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 250));
  console.log(`# OVN QoS rows NB lost written again by the reconcile loop after ${Date.now() - t0} ms`);
  assert.match(await lab.nbctl('--bare', '--columns=match', 'list', 'QoS'), new RegExp(`inport == "ocn-${cli.endpointId}"`), 'back');
  for (const c of [srv, cli]) await detach(c);
  assert.equal(await lab.nbctl('--bare', '--columns=_uuid', 'list', 'QoS'), '', 'QoS rows gone with the ports');
  for (let i = 0; i < 2; i++) await ok(plugins[i], 'NetworkDriver.DeleteNetwork', { NetworkID: nets[i].id });
});

test('teardown: endpoints and networks removed on every host leave no OVN rows behind', async () => {
  for (const c of ctrs.splice(0)) await detach(c);
  const nets = [...new Set((await lab.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch')).split('\n').filter(Boolean))];
  for (const p of plugins) {
    const list = (await p.call<{ result: { id: string }[] }>('ocn/v1/rpc', { jsonrpc: '2.0', id: 1, method: 'networks.list' })).body.result;
    for (const n of list) await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: n.id });
  }
  assert.ok(nets.length >= 4);
  assert.equal(await lab.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch'), '', 'switches gone');
  assert.equal(await lab.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch_Port'), '', 'ports gone');
  assert.equal(await lab.nbctl('lr-list'), '', 'routers gone');
  assert.equal(await lab.nbctl('--bare', '--columns=_uuid', 'list', 'DHCP_Options'), '', 'DHCP options gone');
});
