// Chaos: dockerd restarted (gracefully, then with kill -9) under `--restart always` containers on
// a network with the plugin's own IPAM, which dockerd replays after it comes back
// (RequiresRequestReplay). The containers must come back connected, with no address twice, and
// nothing of the plugin (veth, port, endpoint record, address record) may be left that no
// container owns.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Env, cleanup, docker, dockerOk, kvKeys, netSettings, note, runSleeper, setup, waitFor } from '../e2e/helpers';
import { duplicates, endpointLeaks, inBatches, reachesWithin } from './endpoint-leaks';

const COUNT = 8;
const GATEWAY = '10.73.0.1';
let env: Env;
before(async () => {
  env = await setup('dr');
});
after(async () => {
  await cleanup(env);
});

const names = Array.from({ length: COUNT }, (_, i) => `dr${i}`);

async function addresses(): Promise<string[]> {
  return Promise.all(names.map(async (n) => (await netSettings(env, n, 'drn')).IPAddress));
}

/** Address records of the network's pool that neither the gateway nor a running container holds. */
async function addressLeaks(ips: string[]): Promise<string[]> {
  const held = (await kvKeys(env.P)).filter((k) => k.includes('|10.73.0.')).map((k) => k.slice(k.lastIndexOf('|') + 1));
  return held.filter((ip) => ip !== GATEWAY && !ips.includes(ip)).map((ip) => `address ${ip}`);
}

test(`dockerd restart (graceful, then kill -9) with ${COUNT} --restart always containers on the plugin's IPAM: back connected, no duplicate, nothing leaked`, async () => {
  await dockerOk(env, ['network', 'create', '-d', env.P, '--ipam-driver', env.P, '--subnet', '10.73.0.0/24', '-o', `bridge=${env.bridge}`, 'drn']);
  await Promise.all(names.map((n) => runSleeper(env, n, ['--network', 'drn', '--restart', 'always', '--stop-timeout', '1'])));
  const figures: string[] = [];
  const problems: string[] = [];
  for (const how of ['graceful', 'kill9'] as const) {
    if (how === 'graceful') await env.d.restart();
    else {
      await env.d.kill9();
      await env.d.restart();
    }
    const back = Date.now();
    await waitFor(async () => {
      const r = await docker(env, ['inspect', '-f', '{{.State.Running}}', ...names]);
      return r.stdout.trim().split('\n').every((l) => l === 'true');
    }, { timeoutMs: 90_000, intervalMs: 250, what: `all ${COUNT} containers running again after the ${how} dockerd restart` });
    const ips = await addresses();
    const misses = (await inBatches(names, 4, async (n) => {
      const peer = ips[(names.indexOf(n) + 1) % COUNT];
      const out: string[] = [];
      for (const t of [peer, GATEWAY]) if ((await reachesWithin(env, n, t, 10_000)) === undefined) out.push(`${n} -> ${t}`);
      return out;
    })).flat();
    const healMs = Date.now() - back;
    const dups = duplicates(ips.filter(Boolean));
    const leaks = [...(await endpointLeaks(env)), ...(await addressLeaks(ips))];
    figures.push(`${how}: heal_ms=${healMs} unreachable=${misses.length} duplicate_ips=${dups.length} leaks=${leaks.length}`);
    note(`${how} restart: addresses ${ips.join(', ')}`);
    if (misses.length) problems.push(`${how}: unreachable ${misses.join(', ')}`);
    if (dups.length) problems.push(`${how}: duplicate addresses ${dups.join(', ')}`);
    if (ips.some((ip) => !ip)) problems.push(`${how}: containers without an address`);
    if (leaks.length) problems.push(`${how}: left behind ${leaks.join(', ')}`);
  }
  console.log(`# chaos | dockerd-restart | containers=${COUNT} ${figures.join(' ')}`);
  assert.deepEqual(problems, []);

  // After rm -f of everything, the pool holds the gateway only and the plugin nothing else.
  await dockerOk(env, ['rm', '-f', ...names]);
  // Veth deletions run just after the DeleteEndpoint answer (the kernel takes ~20 ms each).
  const left = async () => [...(await endpointLeaks(env)), ...(await addressLeaks([]))];
  await waitFor(async () => (await left()).length === 0, { timeoutMs: 15_000, intervalMs: 250, what: 'the removed containers\' endpoints to go' }).catch(() => undefined);
  assert.deepEqual(await left(), []);
});
