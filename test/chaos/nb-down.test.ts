// Chaos (c): OVN NB (standalone, the lab's central) down for 30 s, the daemon even (re)started
// meanwhile: plain networks keep working (new containers start, reach their gateway), an OVN
// request answers within 30 s naming OVN NB, and once NB is back OVN networks work again
// without restarting the daemon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startLab, Lab } from '../lab/lab';
import type { Plugin } from '../harness/plugin';
import { run } from '../harness/exec';
import { attach, createNetwork, ovnChassisUp, ping } from '../multihost/attach';
import { chaosLine, untilWorks } from './helpers';

let lab: Lab;
let p: Plugin;
const tag = Math.random().toString(16).slice(2, 6);
const names: string[] = [];
const ns = (n: string) => { const x = `ocnn${tag}${n}`; names.push(x); return x; };
const NB_DOWN_MS = 30_000;

before(async () => {
  lab = await startLab({ hosts: 1, ovn: true, chassis: 'external', encap: 'geneve' });
  await ovnChassisUp(lab);
  p = await lab.hosts[0].startPlugin(['--ovn-nb', lab.nbRemote]);
});
after(async () => {
  for (const n of names) await run('ip', ['netns', 'del', n]);
  await lab?.destroy();
});

test('OVN NB down for 30 s: plain networks work, OVN requests name NB, OVN works again once NB is back', async () => {
  const h = lab.hosts[0];
  const nbPid = Number(fs.readFileSync(path.join(lab.dir, 'central', 'ovnnb_db.pid'), 'utf8').trim());
  process.kill(nbPid, 'SIGKILL');
  const downAt = Date.now();
  // A daemon start while NB is unreachable must not hold plain networks back.
  await p.restart();
  const pid = p.pid;
  const plain = await createNetwork(p, '10.82.0.0/24', { bridge: 'br-plain' });
  const c = await attach(h, p, plain, ns('p'));
  assert.ok(await ping(c.ns, plain.gateway.split('/')[0]), 'a new container on a plain network reaches its gateway');
  const t1 = Date.now();
  const err = await createNetwork(p, '10.83.0.0/24', { 'ovn.switch': 'chaos' }).then(() => 'created', (e: unknown) => String(e));
  const ovnDown = { ms: Date.now() - t1, err };
  assert.ok(ovnDown.ms < 30_000, `answered in ${ovnDown.ms} ms`);
  assert.match(ovnDown.err, new RegExp(`OVN NB at ${lab.nbRemote.replace(/[.]/g, '\\.')}`), `the error names OVN NB: ${ovnDown.err}`);
  const rest = NB_DOWN_MS - (Date.now() - downAt);
  if (rest > 0) await new Promise((r) => setTimeout(r, rest));

  const t0 = Date.now();
  await lab.startCentral();
  let healMs: number | string = 'never';
  try {
    const o = await untilWorks('an OVN network after NB is back', 30_000, () => createNetwork(p, '10.84.0.0/24', { 'ovn.switch': 'chaos2' }));
    healMs = Date.now() - t0;
    await attach(h, p, o.value, ns('o'));
    assert.equal(p.pid, pid, 'the daemon was not restarted');
  } finally {
    chaosLine('nb-down', { healMs, leaks: 0, recreatedPorts: 0 });
  }
});
