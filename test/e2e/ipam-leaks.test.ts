// End to end under a real dockerd 20.10: addresses dockerd could not release. With the plugin
// stopped, `docker rm -f` costs dockerd ~15 s per call and it then forgets the endpoint: its
// ReleaseAddress never comes again. The restarted plugin must give those addresses back (both
// families), while a burst of `docker run`s that straddles its restart gets distinct addresses.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Env, IMAGE, assertTeardownClean, cleanup, docker, dockerOk, kvKeys, note, runSleeper, setup, sleep, waitFor } from './helpers';
import { duplicates, inBatches } from '../chaos/endpoint-leaks';

/** The plugin's grace (--join-grace-ms): for endpoints not joined at start and for unreleased addresses. */
const GRACE_MS = 5_000;
const BURST = 50;
const V4 = '10.34.0.';
const V6 = 'fd00:34::';
/** 10.34.0.0/26: 62 host addresses, the gateway takes .1. */
const V4_FOR_CONTAINERS = 61;

let env: Env;
before(async () => {
  env = await setup('ipl', { args: ['--join-grace-ms', String(GRACE_MS)] });
});
after(async () => {
  await cleanup(env);
});

interface Held {
  name: string;
  v4: string;
  v6: string;
}

/** Every running container of this file with its addresses on the network (one docker call). */
async function running(): Promise<Held[]> {
  const ids = (await docker(env, ['ps', '-q', '--filter', 'name=il-'])).stdout.split(/\s+/).filter(Boolean);
  if (!ids.length) return [];
  const out = await dockerOk(env, ['inspect', '-f', '{{.Name}} {{with index .NetworkSettings.Networks "ipl"}}{{.IPAddress}} {{.GlobalIPv6Address}}{{end}}', ...ids]);
  return out.split('\n').map((l) => {
    const [name, v4, v6] = l.trim().split(/\s+/);
    return { name: name.replace(/^\//, ''), v4: v4 ?? '', v6: v6 ?? '' };
  });
}

/** Addresses the plugin's IPAM holds in the network's pools, per its records in OVSDB. */
async function recorded(): Promise<string[]> {
  return (await kvKeys(env.P)).filter((k) => k.includes(`|${V4}`) || k.includes(`|${V6}`)).map((k) => k.slice(k.lastIndexOf('|') + 1)).sort();
}

/** What the IPAM should hold: the gateways and every running container's two addresses. */
const expected = (held: Held[]): string[] => [`${V4}1`, `${V6}1`, ...held.flatMap((h) => [h.v4, h.v6])].sort();

test(`containers removed while the plugin is down: their addresses are handed out again after its restart; ${BURST} docker runs across the restart get distinct addresses`, async () => {
  await dockerOk(env, ['network', 'create', '-d', env.P, '--ipam-driver', env.P, '-o', `bridge=${env.bridge}`, '--ipv6', '--subnet', `${V4}0/26`, '--subnet', `${V6}/122`, 'ipl']);
  const first = ['il-a1', 'il-a2', 'il-a3', 'il-a4', 'il-a5'];
  for (const n of first) await runSleeper(env, n, ['--network', 'ipl']);
  const gone = (await running()).filter((h) => h.name === 'il-a2' || h.name === 'il-a4');
  assert.equal(gone.length, 2);

  note('plugin stopped; docker rm -f of two containers (dockerd retries each call ~15 s)');
  await env.p.stop();
  let t = Date.now();
  await dockerOk(env, ['rm', '-f', 'il-a2', 'il-a4'], 180_000);
  note(`rm -f with the plugin down took ${Date.now() - t} ms`);
  const leaked = gone.flatMap((h) => [h.v4, h.v6]);
  const left = await recorded();
  assert.ok(leaked.every((ip) => left.includes(ip)), `sanity: dockerd could not release ${leaked.join(', ')} (records: ${left.join(', ')})`);

  note(`${BURST} docker runs while the plugin is down, the plugin back after 1.5 s`);
  const burst = Promise.all(Array.from({ length: BURST }, (_, i) => docker(env, ['run', '-d', '--name', `il-b${i}`, '--network', 'ipl', IMAGE, 'sleep', '1d'], 180_000)));
  await sleep(1_500);
  await env.p.restart();
  const restarted = Date.now();
  const results = await burst;
  const failed = results.filter((r) => r.code !== 0).map((r) => r.stderr.trim().split('\n').pop() ?? '');
  note(`burst: ${BURST - failed.length}/${BURST} started${failed.length ? `; failures: ${[...new Set(failed)].join(' | ')}` : ''}`);

  // The IPAM converges on what runs: the leaked addresses go, nothing else.
  t = Date.now();
  await waitFor(async () => JSON.stringify(await recorded()) === JSON.stringify(expected(await running())), {
    timeoutMs: 6 * GRACE_MS + 20_000, intervalMs: 500, what: 'the plugin IPAM to hold exactly the running containers\' addresses and the gateways',
  }).catch(async (err: Error) => {
    const now = await running();
    const extra = (await recorded()).filter((ip) => !expected(now).includes(ip));
    assert.fail(`${err.message}: held by nobody: ${extra.join(', ')}`);
  });
  const collected = env.p.logRecords().filter((r) => r.msg === 'released what nobody released');
  note(`leaked addresses given back ${Date.now() - restarted} ms after the plugin restart (${Date.now() - t} ms after the burst): ${collected.map((r) => JSON.stringify(r.addresses)).join(' ')}`);

  // Fill the subnet: only when the leaked addresses came back does every address find a container.
  let fill = 0;
  for (;;) {
    const r = await docker(env, ['run', '-d', '--name', `il-f${fill}`, '--network', 'ipl', IMAGE, 'sleep', '1d']);
    if (r.code !== 0) {
      assert.match(r.stderr, /no free address left in 10\.34\.0\.0\/26/, `the fill stops at a full subnet: ${r.stderr}`);
      await docker(env, ['rm', '-f', `il-f${fill}`]);
      break;
    }
    assert.ok(++fill <= V4_FOR_CONTAINERS, 'more containers than addresses');
  }
  const all = await running();
  const v4 = all.map((h) => h.v4);
  const v6 = all.map((h) => h.v6);
  console.log(`# ipam-leaks | burst_started=${BURST - failed.length}/${BURST} filled=${fill} running=${all.length} duplicate_v4=${duplicates(v4).length} duplicate_v6=${duplicates(v6).length}`);
  assert.deepEqual(duplicates(v4), [], 'no IPv4 address twice');
  assert.deepEqual(duplicates(v6.filter(Boolean)), [], 'no IPv6 address twice');
  assert.equal(all.length, V4_FOR_CONTAINERS, `every IPv4 address of the subnet is in use by a running container (${all.length}/${V4_FOR_CONTAINERS})`);
  for (const h of gone) assert.ok(v4.includes(h.v4), `${h.v4} (of the removed ${h.name}) was handed out again`);
  assert.deepEqual(await recorded(), expected(all), 'the IPAM holds exactly what runs');
});

test('teardown: rm -f everything and network rm leave nothing of the plugin behind', async () => {
  // A few at a time: dockerd 20.10 loses count of a network's endpoints when dozens of force
  // removals update it at once ("has active endpoints" with none left).
  const ids = (await docker(env, ['ps', '-aq'])).stdout.split(/\s+/).filter(Boolean);
  await inBatches(ids, 4, (id) => dockerOk(env, ['rm', '-f', id]));
  await assertTeardownClean(env);
});
