// End to end under a real dockerd 20.10: restarts. The plugin restarted gracefully and killed
// with SIGKILL while containers are attached (running containers must not notice), and dockerd
// restarted over a network of the plugin's own IPAM (RequiresRequestReplay).
import { endpointPort } from '../harness/ovs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  Env, IMAGE, assertTeardownClean, cleanup, docker, dockerFails, dockerOk, exec, ifindex, kvKeys, linkExists, linkNamesOf, netSettings, networkId,
  note, pings, portUuid, runSleeper, setup, sleep, waitLinkGone, waitPortGone, waitFor,
} from './helpers';

let env: Env;

before(async () => {
  env = await setup('rst');
});

after(async () => {
  await cleanup(env);
});

interface Attached {
  host: string;
  ifindex: number;
  port: string;
  ip: string;
}

async function attached(container: string, network: string): Promise<Attached> {
  const s = await netSettings(env, container, network);
  const host = await endpointPort(s.EndpointID);
  const port = await portUuid(host);
  assert.ok(port, `OVS port ${host} of ${container}`);
  return { host, ifindex: ifindex(host), port, ip: s.IPAddress };
}

/** The last start-up report of the plugin ('state loaded and reconciled'). */
function lastReconcile(): Record<string, unknown> {
  const recs = env.p.logRecords().filter((r) => r.msg === 'state loaded and reconciled');
  assert.ok(recs.length, 'the plugin reported its start-up');
  return recs[recs.length - 1];
}

/** Waits for the plugin's state to be loaded after a (re)start. */
async function waitReconciled(count: number): Promise<Record<string, unknown>> {
  await waitFor(() => env.p.logRecords().filter((r) => r.msg === 'state loaded and reconciled').length >= count, {
    timeoutMs: 20_000, what: `start-up #${count} of the plugin to finish`,
  });
  return lastReconcile();
}

/**
 * The veths the plugin's start-up removed as orphans since log record `from`: none may be ours.
 * (Reconcile sweeps every unreferenced `ocnh*` veth on the host, other instances' too: noted.)
 */
function assertNoneOfOursSwept(from: number, when: string): void {
  const swept = env.p.logRecords().slice(from).filter((r) => r.msg === 'removing orphan veth').map((r) => String(r.link));
  const ours = linkNamesOf(env.p);
  assert.deepEqual(swept.filter((l) => ours.has(l)), [], `${when}: the plugin removed veths of its own live endpoints`);
  if (swept.length) note(`${when}: start-up removed ${swept.length} ocnh* veths of OTHER processes (${swept.slice(0, 3).join(', ')}...)`);
}

/** busybox ping's summary line: transmitted and received. */
function pingStats(log: string): { tx: number; rx: number } {
  const m = /(\d+) packets transmitted, (\d+) packets received/.exec(log);
  assert.ok(m, `ping summary in: ${log.slice(-500)}`);
  return { tx: Number(m[1]), rx: Number(m[2]) };
}

test('plugin restart (graceful, then kill -9) with containers attached: nothing they notice, new work still possible', async () => {
  await dockerOk(env, ['network', 'create', '-d', env.P, '--ipam-driver', env.P, '--subnet', '10.32.0.0/24', '-o', `bridge=${env.bridge}`, '-o', 'vlan=32', 'rst']);
  await Promise.all([runSleeper(env, 'k1', ['--network', 'rst']), runSleeper(env, 'k2', ['--network', 'rst'])]);
  const k1 = await attached('k1', 'rst');
  const k2 = await attached('k2', 'rst');
  assert.ok(await pings(env, 'k1', 'k2'));
  // A ping running through everything below, every 200 ms.
  await dockerOk(env, ['exec', '-d', 'k1', 'sh', '-c', `exec ping -i 0.2 ${k2.ip} > /tmp/ping.log 2>&1`]);
  await sleep(500);
  const starts = env.p.logRecords().filter((r) => r.msg === 'state loaded and reconciled').length;
  let logAt = env.p.logRecords().length;

  note('plugin: graceful restart');
  let t = Date.now();
  const stopped = await env.p.stop();
  note(`plugin stopped in ${Date.now() - t} ms`);
  assert.equal(stopped.code, 0, `graceful stop exits 0 (${JSON.stringify(stopped)}); its last output:\n${env.p.logs().slice(-1500)}`);
  assert.ok(await pings(env, 'k2', 'k1'), 'the datapath does not need the plugin');
  t = Date.now();
  await env.p.restart();
  const rep1 = await waitReconciled(starts + 1);
  note(`plugin answering in ${Math.round(env.p.startupMs)} ms, reconciled in ${Date.now() - t} ms`);
  assert.equal(rep1.staleEndpoints, 0, `no endpoint taken for stale: ${JSON.stringify(rep1)}`);
  assertNoneOfOursSwept(logAt, 'graceful restart');
  logAt = env.p.logRecords().length;
  for (const [c, before] of [['k1', k1], ['k2', k2]] as const) {
    assert.ok(linkExists(before.host), `${c}'s veth is still there`);
    assert.equal(ifindex(before.host), before.ifindex, `${c}'s veth was not recreated`);
    assert.equal(await portUuid(before.host), before.port, `${c}'s OVS port was not recreated`);
  }
  assert.ok(await pings(env, 'k1', 'k2'), 'containers still talk after a graceful restart');
  await runSleeper(env, 'k3', ['--network', 'rst']);
  const k3 = await attached('k3', 'rst');
  assert.ok(![k1.ip, k2.ip].includes(k3.ip), `a fresh address after the restart: ${k3.ip}`);
  assert.ok(await pings(env, 'k3', 'k1'), 'a new container joins the old ones');

  note('plugin: kill -9 and start');
  await env.p.kill9();
  assert.ok(!env.p.alive());
  assert.ok(await pings(env, 'k2', 'k1'), 'the datapath does not need the plugin, even killed');
  await env.p.restart();
  const rep2 = await waitReconciled(starts + 2);
  assert.equal(rep2.staleEndpoints, 0, `no endpoint taken for stale after kill -9: ${JSON.stringify(rep2)}`);
  assertNoneOfOursSwept(logAt, 'kill -9 restart');
  for (const [c, before] of [['k1', k1], ['k2', k2]] as const) {
    assert.equal(ifindex(before.host), before.ifindex, `${c}'s veth was not recreated`);
    assert.equal(await portUuid(before.host), before.port, `${c}'s OVS port was not recreated`);
  }
  await runSleeper(env, 'k4', ['--network', 'rst']);
  const k4 = await attached('k4', 'rst');
  assert.ok(![k1.ip, k2.ip, k3.ip].includes(k4.ip), `a fresh address after kill -9: ${k4.ip}`);
  assert.ok(await pings(env, 'k4', 'k2'), 'a new container joins after kill -9');

  // The ping that ran through both restarts.
  await exec(env, 'k1', ['killall', '-INT', 'ping']);
  const log = await waitFor(async () => {
    const r = await exec(env, 'k1', ['cat', '/tmp/ping.log']);
    return /packets received/.test(r.stdout) ? r.stdout : undefined;
  }, { timeoutMs: 10_000, what: 'the background ping to finish' });
  const { tx, rx } = pingStats(log);
  note(`background ping across both plugin restarts: ${rx}/${tx} answered`);
  assert.ok(tx >= 10, `the ping ran long enough (${tx})`);
  // A plugin that recreated ports would lose every echo from then on; allow what a starved
  // userspace datapath loses on a loaded machine (0 on a quiet one).
  assert.ok(tx - rx <= Math.max(2, Math.ceil(tx * 0.05)), `no loss while the plugin restarted (${rx}/${tx} answered)`);

  // An old container stopped after the restarts is cleaned up by the new plugin process.
  await dockerOk(env, ['stop', '-t', '1', 'k2']);
  await waitPortGone(k2.host);
  await waitLinkGone(k2.host);
  assert.ok(await pings(env, 'k1', k4.ip), 'the others are unaffected');
  // Endpoints created before either restart are removed as cleanly as the newer ones.
  const k3h = (await attached('k3', 'rst')).host;
  await dockerOk(env, ['rm', '-f', 'k1', 'k3', 'k4']);
  for (const h of [k1.host, k3h, k4.host]) {
    await waitPortGone(h);
    await waitLinkGone(h);
  }
  const gw = `ocng${(await networkId(env, 'rst')).slice(0, 11)}`;
  await dockerOk(env, ['network', 'rm', 'rst']);
  await waitLinkGone(gw);
});

test('dockerd restart over the plugin IPAM: network kept, containers back, fresh addresses, overlaps still refused', async () => {
  await dockerOk(env, ['network', 'create', '-d', env.P, '--ipam-driver', env.P, '--subnet', '10.33.0.0/24', '-o', `bridge=${env.bridge}`, 'rpl']);
  // --restart always: dockerd brings them back; --stop-timeout 1: `sleep` ignores SIGTERM.
  const opts = ['--network', 'rpl', '--restart', 'always', '--stop-timeout', '1'];
  await Promise.all([runSleeper(env, 'r1', opts), runSleeper(env, 'r2', opts)]);
  const before = [(await netSettings(env, 'r1', 'rpl')).IPAddress, (await netSettings(env, 'r2', 'rpl')).IPAddress];
  const reqs = env.p.logRecords().length;
  note('dockerd: restart');
  await env.d.restart();
  note(`dockerd back after ${env.d.startupMs} ms`);
  await waitFor(async () => {
    const r = await docker(env, ['inspect', '-f', '{{.State.Running}}', 'r1', 'r2']);
    return r.stdout.trim() === 'true\ntrue';
  }, { timeoutMs: 60_000, intervalMs: 250, what: 'r1 and r2 running again' });
  const calls = env.p.logRecords().slice(reqs).filter((r) => r.msg === 'request').map((r) => `${r.method}${r.outcome === 'ok' ? '' : ' ' + String(r.outcome)}`);
  note(`plugin calls across the dockerd restart: ${calls.join(', ')}`);
  assert.ok(!env.p.logRecords().slice(reqs).some((r) => r.msg === 'request failed'), `no plugin call failed: ${JSON.stringify(env.p.logRecords().slice(reqs).filter((r) => r.msg === 'request failed'))}`);
  assert.match(await dockerOk(env, ['network', 'ls', '--format', '{{.Name}}']), /^rpl$/m);
  const after1 = [(await netSettings(env, 'r1', 'rpl')).IPAddress, (await netSettings(env, 'r2', 'rpl')).IPAddress];
  note(`addresses before ${before.join(', ')}, after ${after1.join(', ')}`);
  assert.notEqual(after1[0], after1[1]);
  assert.ok(await pings(env, 'r1', 'r2'), 'the restarted containers talk by name');
  assert.ok(await pings(env, 'r1', '10.33.0.1'), 'the gateway answers');

  await runSleeper(env, 'r3', ['--network', 'rpl', '--stop-timeout', '1']);
  const r3 = (await netSettings(env, 'r3', 'rpl')).IPAddress;
  assert.ok(!after1.includes(r3), `r3 got a fresh address (${r3}, others ${after1.join(', ')})`);
  assert.ok(await pings(env, 'r3', 'r1'));

  const over = await dockerFails(env, ['network', 'create', '-d', env.P, '--ipam-driver', env.P, '--subnet', '10.33.0.0/16', '-o', `bridge=${env.bridge}`, 'rover']);
  assert.match(over, /subnet 10\.33\.0\.0\/16 overlaps with subnet 10\.33\.0\.0\/24/);
});

// dockerd re-registers the plugin at start (IpamDriver.GetCapabilities) and replays the pools
// and addresses it holds; what it replays must be accepted, but nothing else may slip through
// while the plugin waits for that replay. Order matters: a CreateNetwork ends the replay window.
test('after the dockerd restart, an address in use is still refused for --ip', async () => {
  const r1 = (await netSettings(env, 'r1', 'rpl')).IPAddress;
  const dup = await docker(env, ['run', '-d', '--name', 'rdup', '--network', 'rpl', '--ip', r1, IMAGE, 'sleep', '1d']);
  if (dup.code === 0) {
    const got = (await netSettings(env, 'rdup', 'rpl')).IPAddress;
    await dockerOk(env, ['rm', '-f', 'rdup']);
    assert.fail(`docker run --ip ${r1} was accepted while r1 holds ${r1} (rdup got ${got}): two containers with one address`);
  }
  assert.match(`${dup.stderr}`, new RegExp(`RequestAddress: ${r1.replace(/\./g, '\\.')} is already in use in 10\\.33\\.0\\.0/24`));
  await docker(env, ['rm', '-f', 'rdup']);
});

test('after the dockerd restart, the same subnet is still refused for a new network', async () => {
  const same = await docker(env, ['network', 'create', '-d', env.P, '--ipam-driver', env.P, '--subnet', '10.33.0.0/24', '-o', `bridge=${env.bridge}`, 'rsame']);
  if (same.code === 0) {
    await docker(env, ['network', 'rm', 'rsame']);
    assert.fail('a second network got subnet 10.33.0.0/24, the pool of network rpl');
  }
  assert.match(same.stderr, /subnet 10\.33\.0\.0\/24 is already used by network [0-9a-f]{12}/);
  // The plugin's address book matches what runs: the gateway and three containers.
  const held = (await kvKeys(env.P)).filter((k) => k.includes('|10.33.0.'));
  assert.equal(held.length, 4, `addresses held in 10.33.0.0/24: ${held.join(', ')}`);
});

test('teardown: rm -f everything and network rm leave nothing of the plugin behind', async () => {
  note('teardown');
  await assertTeardownClean(env);
});
