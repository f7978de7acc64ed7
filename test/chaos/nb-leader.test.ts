// Chaos: the leader of a 3-member Raft OVN Northbound is SIGKILLed in the middle of a burst of 30
// parallel `docker run`s on the fleet's OVN network (fleet.ts with its NB as a Raft cluster in the
// lab's central namespace; northd, both daemons and ovn-nbctl use every member). Every run
// succeeds or fails with a clear error; afterwards the fleet is healthy: no address twice, no
// logical port or NB reservation that no container owns, every container connected, no port
// recreated. Then two of three members killed: a run fails within the deadline naming the NB.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { sleep, waitDead } from '../harness/exec';
import { BUSYBOX_IMAGE } from '../harness/image';
import { checkHealth, destroyFleet, Fleet, healthFigures, netOf, note, portSnapshot, problemsOf, startFleet } from './fleet';

const BURST = 30;
const DEADLINE_MS = 5000;
/** What a failed attach may say: the NB, its leader change, or a write whose outcome was lost. */
const CLEAR_ERROR = /OVN_Northbound|OVN NB|ovsdb|leader|not connected|committed/;

let fleet: Fleet;
before(async () => {
  fleet = await startFleet({ nbCluster: 3, daemonArgs: ['--ovsdb-timeout-ms', String(DEADLINE_MS)] });
});
after(async () => {
  await destroyFleet(fleet);
});

interface Outcome { name: string; err?: string }

async function runOvn(name: string): Promise<Outcome> {
  const r = await fleet.d.docker(['run', '-d', '--name', name, '--network', netOf(fleet, 'ovn').name, BUSYBOX_IMAGE, 'sleep', '1d'], { timeoutMs: 120_000 });
  return r.code === 0 ? { name } : { name, err: r.stderr.trim().split('\n').pop() ?? `exit ${r.code}` };
}

async function killMember(k: number): Promise<void> {
  const pid = Number(fs.readFileSync(fleet.lab.nbMembers[k].pidFile, 'utf8').trim());
  process.kill(pid, 'SIGKILL');
  await waitDead(pid, 10_000);
}

test(`nb-leader: the NB leader SIGKILLed during ${BURST} parallel docker runs on an OVN network; the fleet healthy afterwards`, async () => {
  const { lab, d } = fleet;
  const ports = await portSnapshot(fleet);
  const leader = await lab.nbLeader();
  const started = Date.now();
  // Killed once a few runs are through: the rest are queued, in flight or not yet sent.
  let done = 0;
  let firstFew!: () => void;
  const fewDone = new Promise<void>((r) => (firstFew = r));
  const burst = Array.from({ length: BURST }, (_, i) => runOvn(`nbl-${i}`).finally(() => ++done === 5 && firstFew()));
  await Promise.race([fewDone, sleep(5000)]);
  await killMember(leader);
  const killedAt = Date.now();
  const outcomes = await Promise.all(burst);
  const burstMs = Date.now() - started;
  // Time to recover: until a run started after the kill succeeds.
  let recovered: Outcome;
  for (let i = 0; ; i++) {
    recovered = await runOvn(`nbl-after-${i}`);
    if (!recovered.err) break;
    await d.docker(['rm', '-f', recovered.name]);
    assert.ok(Date.now() - killedAt < 30_000, `no docker run succeeded within 30 s of the kill: ${recovered.err}`);
  }
  const recoverMs = Date.now() - killedAt;
  const failed = outcomes.filter((o) => o.err);
  note(`failed runs: ${[...new Set(failed.map((f) => f.err!.replace(/[0-9a-f]{12,}/g, '…')))].join(' | ') || 'none'}`);
  // A failed `docker run -d` leaves a created container: it goes, and must take nothing with it.
  if (failed.length) await d.dockerOk(['rm', '-f', ...failed.map((f) => f.name)]);
  await lab.startCentral();

  const health = await checkHealth(fleet, { before: ports });
  const count = (re: RegExp) => health.leaks.filter((l) => re.test(l)).length;
  console.log(`# chaos | nb-leader | heal_ms=${recoverMs} burst_ms=${burstMs} attaches_ok=${BURST - failed.length}/${BURST} failed=${failed.length} duplicate_ips=${health.duplicateIps.length} orphan_ports=${count(/^logical port/)} leaked_reservations=${count(/^reservation/)} | ${healthFigures(health)}`);
  for (const f of failed) assert.match(f.err!, CLEAR_ERROR, `a clear error: ${f.err}`);
  assert.deepEqual(problemsOf(health), []);
  await d.dockerOk(['rm', '-f', ...outcomes.filter((o) => !o.err).map((o) => o.name), recovered.name]);
});

test('nb-leader: two of three NB members killed: a docker run fails within the deadline, naming the Northbound', async () => {
  const { lab, d } = fleet;
  const leader = await lab.nbLeader();
  const killed = [leader, (leader + 1) % 3];
  await Promise.all(killed.map(killMember));
  const t0 = Date.now();
  const r = await runOvn('nbq');
  const failMs = Date.now() - t0;
  console.log(`# chaos | nb-quorum-lost | fail_ms=${failMs} deadline_ms=${DEADLINE_MS}`);
  await d.docker(['rm', '-f', 'nbq']);
  await lab.startCentral();
  assert.ok(r.err, 'a run without NB quorum cannot succeed');
  assert.match(r.err, /OVN_Northbound/, `the error names the Northbound: ${r.err}`);
  assert.ok(failMs < DEADLINE_MS + 3000, `failed after ${failMs} ms, the deadline is ${DEADLINE_MS} ms`);
});
