// End to end under a real dockerd 20.10, with Docker's default IPAM: the docker CLI drives the
// real plugin daemon, containers talk over the OVS bridge it builds, and the outside world (a
// namespace at 203.0.113.2 behind the host's 203.0.113.1) sees NAT and published ports.
// Scenarios: bad -o input (nothing left behind), DNS + TCP, static IP/MAC and the port's
// external_ids, MTU, VLAN isolation, --internal, egress NAT, -p, connect/disconnect, teardown.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { makeOutsideWorld, OutsideWorld } from '../harness/netns';
import { run } from '../harness/exec';
import { endpointPort, vsctl } from '../harness/ovs';
import { chainNames } from '../../src/net/firewall';
import {
  Env, IMAGE, arpAnswers, assertTeardownClean, cleanup, docker, dockerFails, dockerOk, exec, ifaceOfEndpoint, ipAddr,
  kvKeys, linkExists, netSettings, networkId, note, ovsFind, pingFails, pings, portUuid, ruleLinesOf, runSleeper, sandboxKey, setup,
  waitFor, waitLinkGone, waitPortGone,
} from './helpers';

let env: Env;
let world: OutsideWorld;

before(async () => {
  const [e, w] = await Promise.allSettled([setup('net'), makeOutsideWorld({ name: 'e2ewan' })]);
  if (e.status === 'fulfilled') env = e.value;
  if (w.status === 'fulfilled') world = w.value;
  if (e.status === 'rejected') throw e.reason;
  if (w.status === 'rejected') throw w.reason;
});

after(async () => {
  await cleanup(env, async () => {
    await world?.destroy();
  });
});

/** `docker network create -d P -o bridge=BR <args> NAME` */
async function createNet(name: string, args: string[]): Promise<string> {
  return dockerOk(env, ['network', 'create', '-d', env.P, '-o', `bridge=${env.bridge}`, ...args, name]);
}

const macOf = (ipv4: string) => ['0a', '58', ...ipv4.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');

test('bad -o values are refused through the CLI with the option named, and nothing is left behind', async () => {
  const { P } = env;
  const vlan = await dockerFails(env, ['network', 'create', '-d', P, '-o', 'vlan=5000', 'badvlan']);
  assert.match(vlan, /NetworkDriver\.CreateNetwork: option vlan: "5000" is not valid; accepted: 1-4094/);
  const bogus = await dockerFails(env, ['network', 'create', '-d', P, '-o', `bridge=${env.bridge}`, '-o', 'bogus=1', 'badopt']);
  const known = /unknown option "bogus"; known options: (.*)/.exec(bogus);
  assert.ok(known, `the unknown option is named and the known ones listed: ${bogus}`);
  for (const k of ['bridge', 'datapath', 'vlan', 'mtu', 'com.docker.network.driver.mtu', 'tenant_id', 'external_ids', 'gateway', 'uplink']) {
    assert.ok(known[1].split(/,\s*/).includes(k), `"${k}" among the known options: ${known[1]}`);
  }
  const mtu = await dockerFails(env, ['network', 'create', '-d', P, '-o', `bridge=${env.bridge}`, '-o', 'mtu=1400', '-o', 'com.docker.network.driver.mtu=1300', 'badmtu']);
  assert.match(mtu, /options mtu=1400 and com\.docker\.network\.driver\.mtu=1300 conflict/);
  const ls = await dockerOk(env, ['network', 'ls', '--format', '{{.Name}}']);
  for (const n of ['badvlan', 'badopt', 'badmtu']) assert.ok(!ls.split('\n').includes(n), `docker has no network ${n}`);
  for (const table of ['Bridge', 'Port', 'Interface']) {
    assert.equal(await vsctl('--bare', '--columns=name', 'find', table, `external_ids:ocn-owner=${P}`), '', `no ${table} created`);
  }
  assert.equal((await run('ovs-vsctl', ['br-exists', env.bridge])).code, 2, `bridge ${env.bridge} not created`);
  assert.deepEqual(await kvKeys(P), [], 'no network record stored');
});

test('default IPAM: containers find each other by name (embedded DNS) and talk TCP', async () => {
  await createNet('blue', ['--subnet', '10.10.0.0/24', '-o', 'vlan=100']);
  await runSleeper(env, 'aa', ['--network', 'blue']);
  const ping = await docker(env, ['run', '--rm', '--network', 'blue', IMAGE, 'ping', '-c1', '-W3', 'aa']);
  assert.equal(ping.code, 0, `ping aa by name: ${ping.stdout}${ping.stderr}`);
  assert.match(ping.stdout, /PING aa \(10\.10\.0\.\d+\)/, 'the name resolved to an address of the subnet');
  // A persistent busybox nc server (-ll with -e) in aa, a client in a throwaway container.
  await dockerOk(env, ['exec', '-d', 'aa', 'nc', '-ll', '-p', '7000', '-e', 'echo', 'tcp-ok']);
  const got = await waitFor(async () => {
    const r = await docker(env, ['run', '--rm', '--network', 'blue', IMAGE, 'nc', '-w', '5', 'aa', '7000']);
    return r.stdout.includes('tcp-ok') ? r.stdout : undefined;
  }, { timeoutMs: 20_000, intervalMs: 300, what: 'TCP answer from aa:7000' });
  assert.match(got, /tcp-ok/);
  // The bridge the plugin created carries the VLAN tag on the container's port.
  const s = await netSettings(env, 'aa', 'blue');
  const iface = await ifaceOfEndpoint(s.EndpointID);
  assert.ok(iface, 'the endpoint has an OVS interface');
  assert.equal(await vsctl('get', 'Port', iface.name, 'tag'), '100');
  assert.equal(await vsctl('port-to-br', iface.name), env.bridge);
});

test('static IP and MAC reach the container and the OVS interface records them; generated MACs are 0a:58:<ip>', async () => {
  await runSleeper(env, 'st', ['--network', 'blue', '--ip', '10.10.0.50', '--mac-address', '02:42:0a:0a:00:32']);
  const addr = await ipAddr(env, 'st');
  assert.match(addr, /inet 10\.10\.0\.50\/24 /);
  const link = (await exec(env, 'st', ['ip', '-o', 'link', 'show', 'eth0'])).stdout;
  assert.match(link, /link\/ether 02:42:0a:0a:00:32 /);
  const s = await netSettings(env, 'st', 'blue');
  const rows = await ovsFind('Interface', 'external_ids:ocn-ip=10.10.0.50/24');
  assert.equal(rows.length, 1, `one interface with ocn-ip=10.10.0.50/24: ${JSON.stringify(rows)}`);
  const ids = rows[0].ids;
  assert.equal(ids['ocn-mac'], '02:42:0a:0a:00:32');
  assert.equal(ids['attached-mac'], '02:42:0a:0a:00:32');
  assert.equal(ids['ocn-network'], await networkId(env, 'blue'));
  assert.equal(ids['ocn-endpoint'], s.EndpointID);
  assert.equal(ids['ocn-sandbox'], await sandboxKey(env, 'st'));
  assert.equal(ids['ocn-owner'], env.P);
  assert.equal(ids['ocn-owner-type'], 'endpoint');
  assert.equal(ids['ocn-mac-generated'], undefined, 'the MAC came from docker, not the plugin');
  assert.match(rows[0].name, /^ocnh[0-9a-f]{11}$/, 'an endpoint veth name (its own, or a warm pooled one)');
  // aa got its MAC from the plugin: derived from its address.
  const aa = await netSettings(env, 'aa', 'blue');
  assert.equal(aa.MacAddress, macOf(aa.IPAddress), 'docker reports the plugin-generated MAC');
  assert.match((await exec(env, 'aa', ['ip', '-o', 'link', 'show', 'eth0'])).stdout, new RegExp(`link/ether ${macOf(aa.IPAddress)} `));
  assert.ok(await pings(env, 'aa', '10.10.0.50'), 'the static container is reachable');
});

test('MTU: -o mtu and -o com.docker.network.driver.mtu set eth0 inside the container', async () => {
  await createNet('mtu1', ['--subnet', '10.11.0.0/24', '-o', 'mtu=1400']);
  await createNet('mtu2', ['--subnet', '10.12.0.0/24', '-o', 'com.docker.network.driver.mtu=1300']);
  const m1 = await dockerOk(env, ['run', '--rm', '--network', 'mtu1', IMAGE, 'cat', '/sys/class/net/eth0/mtu']);
  const m2 = await dockerOk(env, ['run', '--rm', '--network', 'mtu2', IMAGE, 'cat', '/sys/class/net/eth0/mtu']);
  assert.equal(m1, '1400');
  assert.equal(m2, '1300');
  // The gateway port follows the network MTU too.
  const gw = `ocng${(await networkId(env, 'mtu1')).slice(0, 11)}`;
  assert.match((await run('ip', ['link', 'show', gw])).stdout, /mtu 1400/);
  await dockerOk(env, ['network', 'rm', 'mtu1', 'mtu2']);
});

test('VLAN isolation: same subnet on one bridge, the other VLAN never answers ARP, the same VLAN does', async () => {
  // Docker's default IPAM refuses the same subnet twice, so the second network takes the same
  // subnet from the plugin's own IPAM (another address space). gateway=external: no host gateway
  // ports, so the two 10.20.0.1 do not meet in the host's routing table.
  await createNet('v201', ['--subnet', '10.20.0.0/24', '-o', 'vlan=201', '-o', 'gateway=external']);
  await createNet('v202', ['--ipam-driver', env.P, '--subnet', '10.20.0.0/24', '-o', 'vlan=202', '-o', 'gateway=external']);
  await Promise.all([
    runSleeper(env, 'va1', ['--network', 'v201', '--ip', '10.20.0.11']),
    runSleeper(env, 'va2', ['--network', 'v201', '--ip', '10.20.0.12']),
    runSleeper(env, 'vb1', ['--network', 'v202', '--ip', '10.20.0.13']),
  ]);
  const [same, cross, back] = await Promise.all([
    arpAnswers(env, 'va1', '10.20.0.12', 3),
    arpAnswers(env, 'va2', '10.20.0.13'),
    arpAnswers(env, 'vb1', '10.20.0.11'),
  ]);
  assert.ok(same, 'same VLAN answers ARP');
  assert.ok(!cross, 'VLAN 202 never answers VLAN 201');
  assert.ok(!back, 'and VLAN 201 never answers VLAN 202');
  const tags = await Promise.all(['va1', 'vb1'].map(async (c) => {
    const s = await netSettings(env, c, c === 'va1' ? 'v201' : 'v202');
    return vsctl('get', 'Port', await endpointPort(s.EndpointID), 'tag');
  }));
  assert.deepEqual(tags, ['201', '202']);
  await dockerOk(env, ['rm', '-f', 'va1', 'va2', 'vb1']);
  await dockerOk(env, ['network', 'rm', 'v201', 'v202']);
});

test('--internal: containers talk to each other, have no default route, cannot reach the outside world', async () => {
  await createNet('intl', ['--internal', '--subnet', '10.60.0.0/24']);
  await Promise.all([runSleeper(env, 'in1', ['--network', 'intl']), runSleeper(env, 'in2', ['--network', 'intl'])]);
  assert.ok(await pings(env, 'in1', 'in2'), 'internal containers reach each other by name');
  const routes = (await exec(env, 'in1', ['ip', 'route'])).stdout;
  assert.doesNotMatch(routes, /default/, `no default route: ${routes}`);
  assert.ok(await pingFails(env, 'in1', world.outsideIp), 'the outside world is unreachable');
  // Not even with a route forced in: the host has no gateway port for this network.
  const id = await networkId(env, 'intl');
  assert.ok(!linkExists(`ocng${id.slice(0, 11)}`), 'no gateway port for an internal network');
  const key = await sandboxKey(env, 'in1');
  const add = await run('nsenter', [`--net=${key}`, 'ip', 'route', 'add', 'default', 'via', '10.60.0.1']);
  assert.equal(add.code, 0, add.stderr);
  assert.ok(await pingFails(env, 'in1', world.outsideIp), 'no way out through 10.60.0.1 either');
  await dockerOk(env, ['rm', '-f', 'in1', 'in2']);
  await dockerOk(env, ['network', 'rm', 'intl']);
});

/** A TCP server in the outside world (IPv4 and IPv6) that tells each client where it came from. */
const PEER_SERVER = `
import socket, socketserver, sys
class S(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
class H(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(("peer=%s\\n" % self.client_address[0]).encode())
S(("::", int(sys.argv[1])), H).serve_forever()
`;

test('egress NAT (IPv4 and IPv6): a container reaches the outside world, which sees the host address', async () => {
  const srv = world.spawn('python3', ['-u', '-c', PEER_SERVER, '9000']);
  await waitFor(async () => (await world.exec('bash', ['-c', 'exec 3<>/dev/tcp/127.0.0.1/9000'])).code === 0, {
    timeoutMs: 20_000, intervalMs: 100, what: `peer server in the outside world (${srv.output()})`,
  });
  assert.ok(await pings(env, 'aa', world.outsideIp), 'ping 203.0.113.2 from a container');
  const r = await exec(env, 'aa', ['nc', '-w', '5', world.outsideIp, '9000'], 20_000);
  assert.equal(r.code, 0, r.stderr);
  const aa = await netSettings(env, 'aa', 'blue');
  assert.match(r.stdout, new RegExp(`peer=(::ffff:)?${world.hostIp.replace(/\./g, '\\.')}\\b`), `the world sees the host's ${world.hostIp}: ${r.stdout}`);
  assert.ok(!r.stdout.includes(aa.IPAddress), 'not the container address');
  // Dual stack with Docker's IPAM: IPv6 leaves through the plugin's ip6tables masquerade.
  await createNet('d6', ['--ipv6', '--subnet', '10.70.0.0/24', '--subnet', 'fd00:70::/64']);
  await runSleeper(env, 'd61', ['--network', 'd6']);
  const six = await netSettings(env, 'd61', 'd6');
  assert.match(six.GlobalIPv6Address, /^fd00:70::/);
  assert.ok(await pings(env, 'd61', world.outsideIp6!, true), `ping6 ${world.outsideIp6}`);
  const r6 = await exec(env, 'd61', ['nc', '-w', '5', world.outsideIp6!, '9000'], 20_000);
  assert.equal(r6.code, 0, r6.stderr);
  assert.equal(r6.stdout.trim(), `peer=${world.hostIp6}`, 'the world sees the host\'s IPv6 address');
  await srv.stop();
  await dockerOk(env, ['rm', '-f', 'd61']);
  await dockerOk(env, ['network', 'rm', 'd6']);
});

test('published port: -p 8080:80 is reachable from the outside world; the DNAT goes with the container', async () => {
  await dockerOk(env, ['run', '-d', '--name', 'web', '--network', 'blue', '-p', '8080:80', IMAGE,
    'sh', '-c', 'mkdir -p /www && echo hello-web > /www/index.html && exec httpd -f -p 80 -h /www']);
  const url = `http://${world.hostIp}:8080/`;
  const body = await waitFor(async () => {
    const r = await world.exec('curl', ['-sS', '-m', '5', url], { timeoutMs: 10_000 });
    return r.code === 0 ? r.stdout : undefined;
  }, { timeoutMs: 20_000, intervalMs: 200, what: `${url} from the outside world` });
  assert.equal(body.trim(), 'hello-web');
  const web = await netSettings(env, 'web', 'blue');
  const dnat = chainNames(env.P).dnat;
  const natRules = await ruleLinesOf(env.P, 'nat');
  assert.ok(natRules.some((l) => l.startsWith(`-A ${dnat} `) && l.includes('--dport 8080') && l.includes(`${web.IPAddress}:80`)),
    `DNAT 8080 -> ${web.IPAddress}:80 in ${natRules.join('\n')}`);
  await dockerOk(env, ['stop', '-t', '1', 'web']);
  const natAfter = await ruleLinesOf(env.P, 'nat');
  assert.ok(!natAfter.some((l) => l.includes('--dport 8080')), `DNAT rule gone: ${natAfter.join('\n')}`);
  const fwdAfter = await ruleLinesOf(env.P, 'filter');
  assert.ok(!fwdAfter.some((l) => l.includes(web.IPAddress)), `forward accept gone: ${fwdAfter.join('\n')}`);
  const r = await world.exec('curl', ['-sS', '-m', '3', url], { timeoutMs: 10_000 });
  assert.notEqual(r.code, 0, 'nothing answers on 8080 any more');
  await dockerOk(env, ['rm', 'web']);
});

test('network connect/disconnect: eth1 comes and goes, works while there, and its OVS port goes', async () => {
  await createNet('green', ['--subnet', '10.14.0.0/24', '-o', 'vlan=14']);
  await runSleeper(env, 'gr1', ['--network', 'green']);
  await dockerOk(env, ['network', 'connect', 'green', 'aa']);
  const s = await netSettings(env, 'aa', 'green');
  assert.match(await ipAddr(env, 'aa', 'eth1'), new RegExp(`inet ${s.IPAddress.replace(/\./g, '\\.')}/24 `));
  assert.ok(await pings(env, 'aa', 'gr1'), 'aa reaches gr1 over eth1 (by name)');
  const routes = (await exec(env, 'aa', ['ip', 'route'])).stdout;
  assert.match(routes, /default via 10\.10\.0\.1 dev eth0/, 'the default route stays on the first network');
  const host = await endpointPort(s.EndpointID);
  assert.ok(await portUuid(host), 'OVS port of the new endpoint');
  assert.equal(await vsctl('get', 'Port', host, 'tag'), '14');
  await dockerOk(env, ['network', 'disconnect', 'green', 'aa']);
  const links = (await exec(env, 'aa', ['ip', '-o', 'link'])).stdout;
  assert.doesNotMatch(links, /eth1/, 'eth1 is gone');
  await waitPortGone(host);
  await waitLinkGone(host);
  assert.equal(await ifaceOfEndpoint(s.EndpointID), undefined);
  assert.ok(await pings(env, 'aa', '10.10.0.50'), 'eth0 still works');
});

test('teardown: rm -f everything and network rm leave nothing of the plugin behind', async () => {
  note('teardown');
  await assertTeardownClean(env);
});
