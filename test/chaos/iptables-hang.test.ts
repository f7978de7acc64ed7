// Chaos (d): iptables-restore hangs (a stand-in first on the daemon's PATH sleeps while a flag
// file exists). Requests must answer within the bound with an error naming iptables, and once
// iptables answers again the daemon must come good on its own: start-up is retried, not
// abandoned: a network created then works and its container reaches its gateway. Real dockerd,
// real daemon, the system OVS (nothing of it is disturbed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDockerd } from '../harness/dockerd';
import { ensureBusyboxImage } from '../harness/image';
import { startPlugin } from '../harness/plugin';
import { ensureSystemOvs } from '../harness/ovs';
import { Env, cleanup, docker, dockerOk, netSettings, pings, runSleeper } from '../e2e/helpers';
import { chaosLine, until } from './helpers';

let env: Env | undefined;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocn-iptables-hang-'));
const hangFlag = path.join(dir, 'hang');
/** What a request may take at most, whatever is down (the bound). */
const BOUND_MS = 30_000;

before(async () => {
  await ensureSystemOvs();
  for (const bin of ['iptables-restore', 'ip6tables-restore']) {
    fs.writeFileSync(path.join(dir, bin), `#!/bin/sh\n[ -e ${hangFlag} ] && exec sleep 600\nexec /usr/sbin/${bin} "$@"\n`, { mode: 0o755 });
  }
  fs.writeFileSync(hangFlag, '');
  const d = await startDockerd({ name: `chaos-ipt-${process.pid}` });
  await ensureBusyboxImage(d);
  const p = await startPlugin({ env: { PATH: `${dir}:${process.env.PATH}` } });
  const bridge = `brc${crypto.randomBytes(2).toString('hex')}`;
  env = { d, p, P: p.name, bridge, bridges: [bridge] };
});
after(async () => {
  fs.rmSync(hangFlag, { force: true });
  await cleanup(env);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('iptables-restore hangs: requests answer within the bound naming iptables; the daemon heals once it answers', async () => {
  const e = env!;
  const create = (name: string, subnet: string) => docker(e, ['network', 'create', '-d', e.P, '--ipam-driver', e.P, '--subnet', subnet, '-o', `bridge=${e.bridge}`, name]);
  const t0 = Date.now();
  const hung = await create('chaosipt1', '10.76.0.0/24');
  const answeredMs = Date.now() - t0;
  assert.notEqual(hung.code, 0, 'network create cannot succeed without iptables');
  assert.match(hung.stderr, /iptables/, `the error names iptables: ${hung.stderr}`);
  assert.ok(answeredMs < BOUND_MS, `answered in ${answeredMs} ms`);

  fs.rmSync(hangFlag);
  const t1 = Date.now();
  let healMs: number | string = 'never';
  try {
    await until('network create works again', 45_000, async () => (await create('chaosipt2', '10.77.0.0/24')).code === 0);
    healMs = Date.now() - t1;
    await runSleeper(e, 'chaosipt-c', ['--network', 'chaosipt2']);
    const ip = await dockerOk(e, ['inspect', '-f', '{{(index .NetworkSettings.Networks "chaosipt2").IPAddress}}', 'chaosipt-c']);
    assert.match(ip, /^10\.77\.0\./, 'the container got its address on the network');
    // The container's own gateway: with the plugin's IPAM, `docker network inspect` has no
    // gateway in IPAM.Config (dockerd keeps the one the IPAM chose only per endpoint).
    const gw = (await netSettings(e, 'chaosipt-c', 'chaosipt2')).Gateway;
    assert.ok(await pings(e, 'chaosipt-c', gw), `the container reaches its gateway ${gw}`);
  } finally {
    chaosLine('iptables-hang', { healMs, leaks: 0, recreatedPorts: 0 });
  }
});
