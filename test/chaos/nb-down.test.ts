// Chaos (c): OVN NB (standalone, the lab's central) down for 30 s under the fleet (fleet.ts: a
// real dockerd with containers on plain VLAN, gateway=local, plain overlay and OVN networks), the
// daemon even restarted meanwhile: plain networks keep working (running containers connected,
// new ones start), a `docker run` on the OVN network fails within 30 s naming OVN NB, and once NB
// is back OVN networks work again without restarting the daemon; then the whole fleet is healthy
// and no container's port was recreated.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUSYBOX_IMAGE } from '../harness/image';
import { chaosLine, untilWorks } from './helpers';
import { checkHealth, destroyFleet, Fleet, Health, healthFigures, netOf, PLAIN_KINDS, portSnapshot, problemsOf, startFleet } from './fleet';

let fleet: Fleet;
const NB_DOWN_MS = 30_000;

before(async () => {
  fleet = await startFleet();
});
after(async () => {
  await destroyFleet(fleet);
});

test('OVN NB down for 30 s: plain networks work, OVN requests name NB, OVN works again once NB is back; the fleet healthy', async () => {
  const { lab, p, d } = fleet;
  const ovn = netOf(fleet, 'ovn');
  const ports = await portSnapshot(fleet);
  const nbPid = Number(fs.readFileSync(path.join(lab.dir, 'central', 'ovnnb_db.pid'), 'utf8').trim());
  process.kill(nbPid, 'SIGKILL');
  const downAt = Date.now();
  // A daemon start while NB is unreachable must not hold plain networks back.
  await p.restart();
  const pid = p.pid;
  const meanwhile = await checkHealth(fleet, { kinds: PLAIN_KINDS, before: ports });
  assert.deepEqual(problemsOf(meanwhile), [], 'plain networks while NB is down');

  const t1 = Date.now();
  const down = await d.docker(['run', '-d', '--name', 'ovn-during', '--network', ovn.name, BUSYBOX_IMAGE, 'sleep', '1d'], { timeoutMs: 60_000 });
  const downMs = Date.now() - t1;
  await d.docker(['rm', '-f', 'ovn-during']);
  assert.notEqual(down.code, 0, 'a container cannot join an OVN network without NB');
  assert.ok(downMs < 30_000, `answered in ${downMs} ms`);
  assert.match(down.stderr, new RegExp(`OVN NB at ${lab.nbRemote.replace(/[.]/g, '\\.')}`), `the error names OVN NB: ${down.stderr}`);
  const rest = NB_DOWN_MS - (Date.now() - downAt);
  if (rest > 0) await new Promise((r) => setTimeout(r, rest));

  const t0 = Date.now();
  await lab.startCentral();
  let healMs: number | string = 'never';
  let health: Health | undefined;
  try {
    await untilWorks('a container on the OVN network after NB is back', 30_000, async () => {
      await d.docker(['rm', '-f', 'ovn-after']);
      await d.dockerOk(['run', '-d', '--name', 'ovn-after', '--network', ovn.name, BUSYBOX_IMAGE, 'sleep', '1d'], { timeoutMs: 60_000 });
    });
    healMs = Date.now() - t0;
    await d.dockerOk(['rm', '-f', 'ovn-after']);
    health = await checkHealth(fleet, { before: ports });
  } finally {
    chaosLine('nb-down', { healMs, leaks: health?.leaks.length ?? '?', duplicateIps: health?.duplicateIps.length, recreatedPorts: health?.recreated.length ?? '?' }, health && healthFigures(health));
  }
  assert.equal(p.pid, pid, 'the daemon was not restarted');
  assert.deepEqual(problemsOf(health!), []);
});
