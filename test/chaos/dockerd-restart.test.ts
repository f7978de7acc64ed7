// Chaos: dockerd restarted (gracefully, then with kill -9) under the fleet's `--restart always`
// containers (fleet.ts: plain VLAN, gateway=local and OVN networks with the plugin's IPAM, which
// dockerd replays after it comes back (RequiresRequestReplay), and a plain overlay). The
// containers must come back connected (peers, gateway, the far host), new containers start, no
// address twice, and nothing of the plugin (veth, port, endpoint record, address record, logical
// port, NB reservation) may be left that no container owns.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor } from '../harness/exec';
import { checkHealth, destroyFleet, Fleet, fleetContainers, leaksNow, note, problemsOf, startFleet } from './fleet';

let fleet: Fleet;
before(async () => {
  fleet = await startFleet();
});
after(async () => {
  await destroyFleet(fleet);
});

test('dockerd restart (graceful, then kill -9) with --restart always containers on all four network kinds: back connected, no duplicate, nothing leaked', async () => {
  const names = (await fleetContainers(fleet)).map((c) => c.name);
  assert.equal(names.length, 8, `the fleet's containers: ${names.join(' ')}`);
  const figures: string[] = [];
  const problems: string[] = [];
  for (const how of ['graceful', 'kill9'] as const) {
    if (how === 'kill9') await fleet.d.kill9();
    await fleet.d.restart();
    const back = Date.now();
    await waitFor(async () => {
      const r = await fleet.d.docker(['inspect', '-f', '{{.State.Running}}', ...names]);
      return r.stdout.trim().split('\n').every((l) => l === 'true');
    }, { timeoutMs: 90_000, intervalMs: 250, what: `all ${names.length} containers running again after the ${how} dockerd restart` });
    const health = await checkHealth(fleet);
    const healMs = Date.now() - back;
    figures.push(`${how}: heal_ms=${healMs} unreachable=${health.unreachable.length} duplicate_ips=${health.duplicateIps.length} leaks=${health.leaks.length} new_containers=${health.started}/4 reach_ms=${health.reachMs}`);
    note(`${how} restart: ${(await fleetContainers(fleet)).map((c) => `${c.name}=${c.ip}`).join(', ')}`);
    problems.push(...problemsOf(health).map((p) => `${how}: ${p}`));
    if (health.containers !== names.length) problems.push(`${how}: ${health.containers} of ${names.length} containers on their networks`);
  }
  console.log(`# chaos | dockerd-restart | containers=${names.length} ${figures.join(' ')}`);
  assert.deepEqual(problems, []);

  // After rm -f of everything, the pools hold their gateways only and the plugin nothing else.
  await fleet.d.dockerOk(['rm', '-f', ...names]);
  await waitFor(async () => (await leaksNow(fleet)).length === 0, { timeoutMs: 15_000, intervalMs: 250, what: 'the removed containers\' endpoints to go' }).catch(() => undefined);
  assert.deepEqual(await leaksNow(fleet), []);
});
