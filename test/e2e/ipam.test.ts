// End to end under a real dockerd 20.10, with the plugin's own IPAM (`--ipam-driver P`):
// dual stack, --subnet/--ip-range/--gateway/--aux-address, automatic pools, static addresses,
// and the CLI errors for a foreign, taken, overlapping or exhausted address space.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { run } from '../harness/exec';
import {
  Env, IMAGE, assertTeardownClean, cleanup, docker, dockerFails, dockerOk, exec, ipAddr, kvKeys, netSettings, networkId,
  note, pings, runSleeper, setup,
} from './helpers';

let env: Env;

before(async () => {
  env = await setup('ipam');
});

after(async () => {
  await cleanup(env);
});

async function createNet(name: string, args: string[]): Promise<string> {
  return dockerOk(env, ['network', 'create', '-d', env.P, '--ipam-driver', env.P, '-o', `bridge=${env.bridge}`, ...args, name]);
}

interface IpamConfig {
  Subnet: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}
async function ipamConfig(name: string): Promise<IpamConfig[]> {
  return JSON.parse(await dockerOk(env, ['network', 'inspect', '-f', '{{json .IPAM.Config}}', name])) as IpamConfig[];
}

const ip4 = (a: string) => a.split('.').reduce((n, b) => n * 256 + Number(b), 0);

test('a CreateNetwork refused after the pool was granted leaves no pool or address behind', async () => {
  const out = await dockerFails(env, ['network', 'create', '-d', env.P, '--ipam-driver', env.P, '--subnet', '10.41.0.0/24', '-o', `bridge=${env.bridge}`, '-o', 'vlan=0', 'badvlan']);
  assert.match(out, /option vlan: "0" is not valid; accepted: 1-4094/);
  assert.deepEqual(await kvKeys(env.P), [], 'docker released the gateway address and the pool, the plugin forgot them');
  // The subnet is free again.
  await createNet('again', ['--subnet', '10.41.0.0/24']);
  await dockerOk(env, ['network', 'rm', 'again']);
  assert.deepEqual(await kvKeys(env.P), []);
});

test('dual stack with the plugin IPAM: both families on eth0, ping6 between containers and to the gateway', async () => {
  await createNet('six', ['--ipv6', '--subnet', '10.30.0.0/24', '--subnet', 'fd00:30::/64']);
  const cfg = await ipamConfig('six');
  assert.deepEqual(cfg.map((c) => c.Subnet).sort(), ['10.30.0.0/24', 'fd00:30::/64']);
  await Promise.all([runSleeper(env, 's61', ['--network', 'six']), runSleeper(env, 's62', ['--network', 'six'])]);
  const [a, b] = await Promise.all([netSettings(env, 's61', 'six'), netSettings(env, 's62', 'six')]);
  for (const [c, s] of [['s61', a], ['s62', b]] as const) {
    assert.match(s.IPAddress, /^10\.30\.0\.\d+$/, `${c} IPv4`);
    assert.match(s.GlobalIPv6Address, /^fd00:30::[0-9a-f]+$/, `${c} IPv6`);
    const addrs = await ipAddr(env, c);
    assert.ok(addrs.includes(`inet ${s.IPAddress}/24 `), `${c} eth0 has ${s.IPAddress}: ${addrs}`);
    assert.ok(addrs.includes(`inet6 ${s.GlobalIPv6Address}/64 `), `${c} eth0 has ${s.GlobalIPv6Address}: ${addrs}`);
  }
  assert.notEqual(a.GlobalIPv6Address, b.GlobalIPv6Address);
  assert.ok(await pings(env, 's61', b.GlobalIPv6Address, true), `ping6 ${b.GlobalIPv6Address}`);
  assert.ok(await pings(env, 's62', a.GlobalIPv6Address, true), `ping6 ${a.GlobalIPv6Address}`);
  assert.ok(await pings(env, 's61', b.IPAddress), 'and IPv4');
  const r6 = (await exec(env, 's61', ['ip', '-6', 'route'])).stdout;
  const gw6 = /default via (\S+) dev eth0/.exec(r6)?.[1];
  assert.ok(gw6 && gw6.startsWith('fd00:30::'), `an IPv6 default route into the subnet: ${r6}`);
  assert.ok(await pings(env, 's61', gw6, true), `the v6 gateway ${gw6} answers`);
  await dockerOk(env, ['rm', '-f', 's61', 's62']);
  await dockerOk(env, ['network', 'rm', 'six']);
});

test('--subnet, --ip-range, --gateway, --aux-address and --ip are honoured', async () => {
  await createNet('ipm', ['--subnet', '10.40.0.0/24', '--ip-range', '10.40.0.128/28', '--gateway', '10.40.0.254', '--aux-address', 'host1=10.40.0.129']);
  const [cfg] = await ipamConfig('ipm');
  assert.deepEqual(cfg, { Subnet: '10.40.0.0/24', IPRange: '10.40.0.128/28', Gateway: '10.40.0.254', AuxiliaryAddresses: { host1: '10.40.0.129' } });
  // The gateway address sits on the plugin's gateway port in the host.
  const gwPort = `ocng${(await networkId(env, 'ipm')).slice(0, 11)}`;
  assert.match((await run('ip', ['-o', 'addr', 'show', 'dev', gwPort])).stdout, /inet 10\.40\.0\.254\/24 /);
  await Promise.all([runSleeper(env, 'ip1', ['--network', 'ipm']), runSleeper(env, 'ip2', ['--network', 'ipm'])]);
  for (const c of ['ip1', 'ip2']) {
    const s = await netSettings(env, c, 'ipm');
    const n = ip4(s.IPAddress);
    assert.ok(n > ip4('10.40.0.128') && n < ip4('10.40.0.143'), `${c}: ${s.IPAddress} comes from the ip-range`);
    assert.notEqual(s.IPAddress, '10.40.0.129', 'never the aux address');
    assert.equal(s.Gateway, '10.40.0.254');
    assert.match((await exec(env, c, ['ip', 'route'])).stdout, /default via 10\.40\.0\.254 dev eth0/);
  }
  assert.ok(await pings(env, 'ip1', '10.40.0.254'), 'the gateway answers');
  // Static addresses: inside the subnet but outside the ip-range is fine, as with Docker's IPAM.
  await runSleeper(env, 'ip3', ['--network', 'ipm', '--ip', '10.40.0.20']);
  assert.match(await ipAddr(env, 'ip3'), /inet 10\.40\.0\.20\/24 /);
  assert.ok(await pings(env, 'ip1', '10.40.0.20'));
});

test('bad addresses: foreign, taken (container, gateway, aux) each fail with a clear message', async () => {
  const foreign = await dockerFails(env, ['run', '--rm', '--network', 'ipm', '--ip', '10.41.0.10', IMAGE, 'sleep', '0']);
  assert.match(foreign, /Invalid address 10\.41\.0\.10: It does not belong to any of this network's subnets/);
  const taken = await dockerFails(env, ['run', '--rm', '--network', 'ipm', '--ip', '10.40.0.20', IMAGE, 'sleep', '0']);
  assert.match(taken, /IpamDriver\.RequestAddress: RequestAddress: 10\.40\.0\.20 is already in use in 10\.40\.0\.0\/24/);
  const gw = await dockerFails(env, ['run', '--rm', '--network', 'ipm', '--ip', '10.40.0.254', IMAGE, 'sleep', '0']);
  assert.match(gw, /10\.40\.0\.254 is already in use in 10\.40\.0\.0\/24 \(the gateway\)/);
  const aux = await dockerFails(env, ['run', '--rm', '--network', 'ipm', '--ip', '10.40.0.129', IMAGE, 'sleep', '0']);
  assert.match(aux, /10\.40\.0\.129 is already in use in 10\.40\.0\.0\/24/);
  // Failed starts took nothing: ip3's address is still its own, the next free one is handed out.
  await runSleeper(env, 'ip4', ['--network', 'ipm']);
  const s = await netSettings(env, 'ip4', 'ipm');
  assert.ok(ip4(s.IPAddress) > ip4('10.40.0.129') && ip4(s.IPAddress) < ip4('10.40.0.143'), s.IPAddress);
});

test('overlapping pools are refused; an automatic pool comes from 10.128.0.0/11', async () => {
  const over = await dockerFails(env, ['network', 'create', '-d', env.P, '--ipam-driver', env.P, '--subnet', '10.40.0.0/16', '-o', `bridge=${env.bridge}`, 'ipm2']);
  assert.match(over, /IpamDriver\.RequestPool: RequestPool: subnet 10\.40\.0\.0\/16 overlaps with subnet 10\.40\.0\.0\/24 used by network [0-9a-f]{12}/);
  const same = await dockerFails(env, ['network', 'create', '-d', env.P, '--ipam-driver', env.P, '--subnet', '10.40.0.0/24', '-o', `bridge=${env.bridge}`, 'ipm3']);
  // (the existing pool has an ip-range, so this is another pool id: refused as an overlap)
  assert.match(same, /RequestPool: subnet 10\.40\.0\.0\/24 (is already used|overlaps with subnet 10\.40\.0\.0\/24 used) by network [0-9a-f]{12}/);
  const inner = await dockerFails(env, ['network', 'create', '-d', env.P, '--ipam-driver', env.P, '--subnet', '10.40.0.64/26', '-o', `bridge=${env.bridge}`, 'ipm4']);
  assert.match(inner, /overlaps with subnet 10\.40\.0\.0\/24/);
  await createNet('auto1', []);
  const [cfg] = await ipamConfig('auto1');
  const m = /^10\.(\d+)\.(\d+)\.0\/24$/.exec(cfg.Subnet);
  assert.ok(m && Number(m[1]) >= 128 && Number(m[1]) < 160, `automatic subnet ${cfg.Subnet} inside 10.128.0.0/11`);
  await runSleeper(env, 'au1', ['--network', 'auto1']);
  const s = await netSettings(env, 'au1', 'auto1');
  assert.ok(s.IPAddress.startsWith(cfg.Subnet.replace(/0\/24$/, '')), `${s.IPAddress} in ${cfg.Subnet}`);
  assert.ok(await pings(env, 'au1', s.Gateway), 'its gateway answers');
  // A second automatic pool does not overlap the first.
  await createNet('auto2', []);
  const [cfg2] = await ipamConfig('auto2');
  assert.notEqual(cfg2.Subnet, cfg.Subnet);
  assert.match(cfg2.Subnet, /^10\.(12[89]|1[3-5]\d)\.\d+\.0\/24$/);
});

test('an exhausted /29 refuses the next container with a clear message', async () => {
  await createNet('tiny', ['--subnet', '10.50.0.0/29']);
  // 6 host addresses: the gateway and 5 containers.
  for (let i = 1; i <= 5; i++) await runSleeper(env, `t${i}`, ['--network', 'tiny']);
  const full = await dockerFails(env, ['run', '--rm', '--network', 'tiny', IMAGE, 'sleep', '0']);
  assert.match(full, /IpamDriver\.RequestAddress: RequestAddress: no free address left in 10\.50\.0\.0\/29 \(6 in use\)/);
  const addrs = await Promise.all([1, 2, 3, 4, 5].map(async (i) => (await netSettings(env, `t${i}`, 'tiny')).IPAddress));
  assert.deepEqual([...addrs].sort(), ['10.50.0.2', '10.50.0.3', '10.50.0.4', '10.50.0.5', '10.50.0.6']);
  // Freeing one makes room again.
  await dockerOk(env, ['rm', '-f', 't3']);
  await runSleeper(env, 't6', ['--network', 'tiny']);
  assert.equal((await netSettings(env, 't6', 'tiny')).IPAddress, '10.50.0.4');
  const again = await docker(env, ['run', '--rm', '--network', 'tiny', IMAGE, 'sleep', '0']);
  assert.notEqual(again.code, 0, 'full again');
});

test('two concurrent docker run --ip X on one network: exactly one gets X, the other is refused', async () => {
  await createNet('race', ['--subnet', '10.43.0.0/24']);
  // Created first and started together. dockerd itself serialises CreateEndpoint per network
  // (libnetwork's networkLocker), so its two RequestAddress calls follow each other: this guards
  // the end result; the overlapping requests are test/integration/ipam-concurrency.test.ts's.
  for (const x of ['10.43.0.50', '10.43.0.51', '10.43.0.52']) {
    const names = [`r${x.split('.')[3]}a`, `r${x.split('.')[3]}b`];
    for (const n of names) await dockerOk(env, ['create', '--name', n, '--network', 'race', '--ip', x, IMAGE, 'sleep', '1d']);
    const rs = await Promise.all(names.map((n) => docker(env, ['start', n])));
    const started = rs.filter((r) => r.code === 0);
    assert.equal(started.length, 1, `exactly one of two started with ${x}: ${rs.map((r) => r.stderr.trim() || 'ok').join(' | ')}`);
    const refused = rs.find((r) => r.code !== 0)!;
    assert.match(refused.stderr, new RegExp(`RequestAddress: ${x.replace(/\./g, '\\.')} is already in use in 10\\.43\\.0\\.0/24`));
    const winner = names[rs.indexOf(started[0])];
    assert.equal((await netSettings(env, winner, 'race')).IPAddress, x);
    await dockerOk(env, ['rm', '-f', ...names]);
  }
  await dockerOk(env, ['network', 'rm', 'race']);
});

test('teardown: rm -f everything and network rm leave nothing of the plugin behind', async () => {
  note('teardown');
  await assertTeardownClean(env);
});
