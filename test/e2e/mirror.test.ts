// Port mirroring and capture through the real daemon under a real dockerd: a container's traffic
// mirrored to a local interface (packets counted there, another container's not), a pcap from
// `ctl capture` that tcpdump reads, and the mirror gone with its container.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { run, sleep } from '../harness/exec';
import { pluginBinPath } from '../harness/plugin';
import { DAEMON_NODE_FLAGS } from '../../src/node-flags';
import { Env, IMAGE, cleanup, dockerOk, exec, netSettings, setup, waitFor } from './helpers';

let env: Env;
const PCAP = path.join(os.tmpdir(), `ocn-e2e-capture-${process.pid}.pcap`);
const OUT = `mir${process.pid % 100000}`;
before(async () => {
  env = await setup('mirror');
});
after(async () => {
  fs.rmSync(PCAP, { force: true });
  await cleanup(env);
});

const ctl = (...args: string[]) => run(process.execPath, [...DAEMON_NODE_FLAGS, pluginBinPath(), 'ctl', '--name', env.p.name, '--plugin-dir', path.dirname(env.p.socket), ...args], { timeoutMs: 60_000 });

/** Packets of `filter` seen on host interface `dev` while `during` runs. */
async function seenOn(dev: string, filter: string[], during: () => Promise<unknown>): Promise<number> {
  const cap = run('timeout', ['4', 'tcpdump', '-i', dev, '-n', '-l', ...filter], { timeoutMs: 20_000 });
  await sleep(800);
  await during();
  return (await cap).stdout.split('\n').filter((l) => l.trim()).length;
}

test('a container mirrored to a local interface: its pings are seen there, another container\'s are not; the mirror goes with the container', async () => {
  await dockerOk(env, ['network', 'create', '-d', env.P, '--subnet', '10.96.0.0/24', '-o', `bridge=${env.bridge}`, 'mnet']);
  for (const c of ['ma', 'mb', 'mc']) await dockerOk(env, ['run', '-d', '--name', c, '--network', 'mnet', IMAGE, 'sleep', '1d']);
  const a = await netSettings(env, 'ma', 'mnet');
  const b = await netSettings(env, 'mb', 'mnet');
  const made = await ctl('mirror.create', JSON.stringify({ endpoint: a.EndpointID.slice(0, 12), direction: 'both', output: { type: 'interface', name: OUT } }));
  assert.equal(made.code, 0, made.stderr);
  const id = (JSON.parse(made.stdout) as { id: string }).id;
  const mirrored = await seenOn(OUT, ['icmp'], () => exec(env, 'ma', ['ping', '-c', '3', '-W', '2', b.IPAddress]));
  assert.ok(mirrored >= 6, `3 requests and 3 replies of ma on ${OUT}: ${mirrored}`);
  const other = await seenOn(OUT, ['icmp'], () => exec(env, 'mc', ['ping', '-c', '3', '-W', '2', b.IPAddress]));
  assert.equal(other, 0, 'mc is not mirrored');
  const list = JSON.parse((await ctl('mirror.list')).stdout) as { id: string }[];
  assert.ok(list.some((m) => m.id === id));
  await dockerOk(env, ['rm', '-f', 'ma']);
  await waitFor(async () => !(JSON.parse((await ctl('mirror.list')).stdout) as { id: string }[]).some((m) => m.id === id), { timeoutMs: 10_000, what: 'the mirror gone with its container' });
  assert.notEqual((await run('ip', ['link', 'show', OUT])).code, 0, 'and its output interface');
});

test('ctl capture ENDPOINT --seconds N --filter icmp writes a pcap tcpdump reads', async () => {
  const b = await netSettings(env, 'mb', 'mnet');
  const c = await netSettings(env, 'mc', 'mnet');
  const out = fs.openSync(PCAP, 'w');
  const capture = new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, pluginBinPath(), 'ctl', '--name', env.p.name, '--plugin-dir', path.dirname(env.p.socket), 'capture', c.EndpointID.slice(0, 12), '--seconds', '3', '--filter', 'icmp'], { stdio: ['ignore', out, 'inherit'] });
    child.on('exit', (code) => resolve(code));
  });
  await sleep(1000);
  await exec(env, 'mc', ['ping', '-c', '3', '-W', '2', b.IPAddress]);
  assert.equal(await capture, 0);
  fs.closeSync(out);
  const read = await run('tcpdump', ['-n', '-r', PCAP]);
  assert.equal(read.code, 0, read.stderr);
  const lines = read.stdout.split('\n').filter((l) => l.includes('ICMP'));
  assert.ok(lines.length >= 6, `3 requests and 3 replies in the pcap: ${read.stdout}`);
  assert.deepEqual(JSON.parse((await ctl('mirror.list')).stdout), [], 'the capture\'s mirror is gone');
});
