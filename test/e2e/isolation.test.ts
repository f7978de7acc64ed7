// Isolation under a real dockerd that manages iptables: our networks against Docker's own bridge
// networks (both directions, whatever the order of dockerd's and our FORWARD jumps), tenants
// apart and together, egress and published ports still working, and host ports that are taken
// refused instead of stolen.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import { after, before, test } from 'node:test';
import { makeOutsideWorld, OutsideWorld } from '../harness/netns';
import { run, runOk } from '../harness/exec';
import { chainNames } from '../../src/net/firewall';
import { Env, IMAGE, cleanup, docker, dockerFails, dockerOk, exec, netSettings, pingFails, pings, ruleLinesOf, runSleeper, setup, waitFor } from './helpers';

let env: Env;
let world: OutsideWorld;
let hostListener: net.Server | undefined;
const base = 21000 + (crypto.randomBytes(2).readUInt16BE(0) % 8000);
/** Host ports: Docker publishes dpub's, blue1's bweb publishes webPort, a host service holds hostPort. */
const pubPort = base + 1;
const webPort = base + 2;
const hostPort = base + 3;

before(async () => {
  const [e, w] = await Promise.allSettled([
    setup('iso'),
    makeOutsideWorld({ name: 'e2eiso', hostIp: '198.51.101.1', outsideIp: '198.51.101.2', ipv6: false }),
  ]);
  if (e.status === 'fulfilled') env = e.value;
  if (w.status === 'fulfilled') world = w.value;
  if (e.status === 'rejected') throw e.reason;
  if (w.status === 'rejected') throw w.reason;
});

after(async () => {
  hostListener?.close();
  await cleanup(env, async () => {
    await world?.destroy();
  });
});

const ours = (name: string, args: string[]) => dockerOk(env, ['network', 'create', '-d', env.P, '-o', `bridge=${env.bridge}`, ...args, name]);

/** Inside a container: the text a TCP server at ip:port sends, or '' when nothing answers in 3 s. */
async function tcpFrom(container: string, ip: string, p: number): Promise<string> {
  const r = await exec(env, container, ['nc', '-w', '3', ip, String(p)], 20_000);
  return r.stdout.trim();
}

/** Moves the jump into our filter chain to the top or the bottom of FORWARD. */
async function moveOurForwardJump(where: 'top' | 'bottom'): Promise<void> {
  const fwd = chainNames(env.P).fwd;
  await runOk('iptables', ['-w', '-D', 'FORWARD', '-j', fwd]);
  await runOk('iptables', where === 'top' ? ['-w', '-I', 'FORWARD', '1', '-j', fwd] : ['-w', '-A', 'FORWARD', '-j', fwd]);
}

test("Docker's bridge networks: unpublished ports unreachable from our network and back, whatever the FORWARD order; published ones reachable", async () => {
  await ours('iso1', ['--subnet', '10.91.0.0/24', '-o', 'tenant_id=red']);
  await runSleeper(env, 'oc', ['--network', 'iso1']);
  // Created after our rules were loaded: the firewall's watch of the host's bridges adds it.
  const dbr = await dockerOk(env, ['network', 'create', '--subnet', '10.92.0.0/24', 'dbr']);
  const brName = `br-${dbr.slice(0, 12)}`;
  await dockerOk(env, ['run', '-d', '--name', 'dweb', '--network', 'dbr', IMAGE, 'nc', '-ll', '-p', '8000', '-e', 'echo', 'private']);
  await dockerOk(env, ['run', '-d', '--name', 'dpub', '--network', 'dbr', '-p', `${pubPort}:80`, IMAGE, 'nc', '-ll', '-p', '80', '-e', 'echo', 'public']);
  const dweb = (await netSettings(env, 'dweb', 'dbr')).IPAddress;
  const oc = await netSettings(env, 'oc', 'iso1');
  await waitFor(async () => (await run('iptables-save', ['-t', 'mangle'])).stdout.includes(`-o ${brName} `), { timeoutMs: 15_000, what: `a drop towards ${brName}` });
  for (const where of ['as loaded', 'bottom', 'top'] as const) {
    if (where !== 'as loaded') await moveOurForwardJump(where);
    assert.equal(await tcpFrom('oc', dweb, 8000), '', `our container must not reach an unpublished port on Docker's bridge (our FORWARD jump ${where})`);
    assert.ok(await pingFails(env, 'oc', dweb), `nor ping it (our FORWARD jump ${where})`);
    assert.ok(await pingFails(env, 'dweb', oc.IPAddress), `Docker's container must not reach ours (our FORWARD jump ${where})`);
    assert.equal(await tcpFrom('oc', oc.Gateway, pubPort), 'public', `a port Docker publishes is reachable through the host (our FORWARD jump ${where})`);
  }
});

test('tenants: networks of one tenant route to each other, others do not; egress and published ports keep working', async () => {
  await ours('red2', ['--subnet', '10.93.0.0/24', '-o', 'vlan=93', '-o', 'tenant_id=red']);
  await ours('blue1', ['--subnet', '10.94.0.0/24', '-o', 'vlan=94', '-o', 'tenant_id=blue']);
  await Promise.all([
    runSleeper(env, 'r2', ['--network', 'red2']),
    runSleeper(env, 'b1', ['--network', 'blue1']),
    dockerOk(env, ['run', '-d', '--name', 'bweb', '--network', 'blue1', '-p', `${webPort}:80`, IMAGE, 'nc', '-ll', '-p', '80', '-e', 'echo', 'blue-web']),
  ]);
  const ip = async (c: string, n: string) => (await netSettings(env, c, n)).IPAddress;
  const [oc, r2, b1] = await Promise.all([ip('oc', 'iso1'), ip('r2', 'red2'), ip('b1', 'blue1')]);
  assert.ok(await pings(env, 'oc', r2), 'red -> red');
  assert.ok(await pings(env, 'r2', oc), 'red <- red');
  assert.ok(await pingFails(env, 'oc', b1), 'red -> blue must not answer');
  assert.ok(await pingFails(env, 'b1', oc), 'blue -> red must not answer');
  assert.ok(await pings(env, 'b1', world.outsideIp), 'egress from blue');
  const fromWorld = await world.exec('python3', ['-c', `import socket; s=socket.create_connection(("${world.hostIp}", ${webPort}), 5); print(s.recv(100).decode().strip())`]);
  assert.equal(fromWorld.stdout.trim(), 'blue-web', `the outside reaches the published port: ${fromWorld.stderr}`);
  const fromRed = await tcpFrom('oc', (await netSettings(env, 'oc', 'iso1')).Gateway, webPort);
  assert.equal(fromRed, 'blue-web', "another tenant reaches a published port through the host, as with Docker's bridge");
});

test('published ports: a host port already taken (a host service, Docker, another network of ours) is refused and leaves no rule', async () => {
  hostListener = net.createServer(() => undefined);
  await new Promise<void>((r) => hostListener!.listen(hostPort, '0.0.0.0', r));
  const e1 = await dockerFails(env, ['run', '-d', '--name', 'steal1', '--network', 'iso1', '-p', `${hostPort}:80`, IMAGE, 'sleep', '1d']);
  assert.match(e1, new RegExp(`host port tcp/${hostPort} is already allocated on this host`));
  // Docker's bridge publishes with docker-proxy listening on the port.
  const e2 = await dockerFails(env, ['run', '-d', '--name', 'steal2', '--network', 'iso1', '-p', `${pubPort}:80`, IMAGE, 'sleep', '1d']);
  assert.match(e2, new RegExp(`host port tcp/${pubPort} is already allocated`));
  // Another network of ours (blue1's bweb) holds webPort.
  const e3 = await dockerFails(env, ['run', '-d', '--name', 'steal3', '--network', 'iso1', '-p', `${webPort}:80`, IMAGE, 'sleep', '1d']);
  assert.match(e3, new RegExp(`host port tcp/${webPort} is already allocated: endpoint [0-9a-f]{12} of network [0-9a-f]{12} publishes it`));
  const nat = (await ruleLinesOf(env.P, 'nat')).join('\n');
  for (const p of [hostPort, pubPort]) assert.doesNotMatch(nat, new RegExp(`--dport ${p} `), `no DNAT of ours for ${p}`);
  assert.equal(nat.match(new RegExp(`--dport ${webPort} `, 'g'))?.length, 1, `one DNAT for ${webPort}: bweb's`);
  await docker(env, ['rm', '-f', 'steal1', 'steal2', 'steal3']);
});
