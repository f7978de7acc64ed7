// QoS on a real OVN (two lab hosts, userspace datapath, Geneve between them): src/ovn/qos.ts plans
// QoS rows on a live NB cache, commitPlan applies them, and iperf3 between a namespace on h1 (a,
// the port with QoS) and one on h2 (b) shows what they do: from-lport bandwidth limits what a
// sends, to-lport what it receives, the DSCP mark is on a's packets as b's veth sees them.
// Rates are TCP goodput within ±15 %; a rate below the band is measured again (shared machine).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startLab, type Lab, type LabNs } from '../lab/lab';
import { sleep, waitFor } from '../harness/exec';
import { OvsdbClient } from '../../src/ovsdb/client';
import { dbFromClient } from '../../src/daemon';
import type { Db } from '../../src/ovs/db';
import { NB_MONITOR } from '../../src/ovn/nb';
import { commitPlan } from '../../src/ovn/txn';
import { findSwitch } from '../../src/ovn/logical-switch';
import { clearLspQosOps, lspQosRows, setLspQosOps } from '../../src/ovn/qos';
import { parseQos } from '../../src/qos/model';

const SWITCH = 'qossw';
const TOLERANCE = 0.15;
let lab: Lab;
let client: OvsdbClient;
let nb: Db;
const ns: Record<string, LabNs & { ip: string; lsp: string }> = {};
const measured: string[] = [];

async function setQos(lsp: string, opts: Record<string, string>): Promise<void> {
  await commitPlan(nb, () => setLspQosOps(nb, findSwitch(nb, SWITCH)!, lsp, parseQos(opts)));
  await lab.nbctl('--timeout=30', '--wait=hv', 'sync');
}

async function iperf(from: string, to: string): Promise<number> {
  const r = await ns[from].exec('iperf3', ['-c', ns[to].ip, '-t', '3', '-O', '1', '-J'], { timeoutMs: 20_000 });
  const out = JSON.parse(r.stdout || '{}') as { end?: { sum_received?: { bits_per_second: number } }; error?: string };
  if (!out.end?.sum_received) throw new Error(`iperf3 ${from} -> ${to} failed: ${out.error ?? r.stderr}`);
  return out.end.sum_received.bits_per_second / 1e6;
}

async function assertRate(from: string, to: string, mbit: number, what: string): Promise<void> {
  const tries: number[] = [];
  for (let i = 0; i < 4; i++) {
    const got = await iperf(from, to);
    tries.push(got);
    const list = tries.map((t) => t.toFixed(1)).join(', ');
    assert.ok(got <= mbit * (1 + TOLERANCE), `${what}: ${got.toFixed(1)} Mbit/s through a ${mbit} Mbit/s limit (tries ${list})`);
    if (got >= mbit * (1 - TOLERANCE)) {
      measured.push(`${what}: ${mbit} -> ${got.toFixed(1)} Mbit/s (${(((got - mbit) / mbit) * 100).toFixed(1)} %, tries ${list})`);
      return;
    }
    await sleep(500);
  }
  assert.fail(`${what}: ${tries.map((t) => t.toFixed(1)).join(', ')} Mbit/s, all below ${mbit} Mbit/s -${TOLERANCE * 100} %`);
}

before(async () => {
  lab = await startLab({ hosts: 2, ovn: true });
  await lab.nbctl('ls-add', SWITCH);
  for (const [name, host, n] of [['a', 1, 1], ['b', 2, 2]] as const) {
    const ip = `10.79.0.${n}`;
    const mac = `0a:58:0a:4f:00:0${n}`;
    const lsp = `qos-${name}`;
    await lab.nbctl('lsp-add', SWITCH, lsp, '--', 'lsp-set-addresses', lsp, `${mac} ${ip}`);
    ns[name] = Object.assign(await lab.addNs(name, host, { cidr: `${ip}/24`, mac, ifaceId: lsp }), { ip, lsp });
    spawn('ip', ['netns', 'exec', ns[name].ns, 'iperf3', '-s', '-D', '-p', '5201'], { stdio: 'ignore' });
  }
  for (const { lsp } of Object.values(ns)) await lab.nbctl('--timeout=30', 'wait-until', 'Logical_Switch_Port', lsp, 'up=true');
  client = new OvsdbClient({ remote: lab.nbUnix, database: 'OVN_Northbound', monitor: NB_MONITOR });
  await client.connect();
  nb = dbFromClient(client);
  await waitFor(() => findSwitch(nb, SWITCH), { timeoutMs: 10_000, what: 'the switch in the NB cache' });
  assert.ok(await ns.a.ping(ns.b.ip, 2), 'a (h1) reaches b (h2)');
});

after(async () => {
  if (measured.length) console.log(`measured (OVN, 2 lab hosts, netdev datapath):\n  ${measured.join('\n  ')}`);
  client?.close();
  // The lab's namespaces go with it, iperf3 servers included.
  await lab?.destroy();
});

for (const mbit of [10, 50, 200]) {
  test(`from-lport bandwidth limits what a sends to ${mbit} Mbit/s`, async () => {
    await setQos(ns.a.lsp, { 'qos.max_rate': String(mbit) });
    const rows = lspQosRows(nb, ns.a.lsp);
    assert.deepEqual(rows.map((r) => [r.direction, r.match, r.bandwidth]), [['from-lport', 'inport == "qos-a"', { rate: mbit * 1000, burst: mbit * 400 }]]);
    await assertRate('a', 'b', mbit, 'OVN egress a -> b');
  });
}

for (const mbit of [10, 50, 200]) {
  test(`to-lport bandwidth limits what a receives to ${mbit} Mbit/s`, async () => {
    await setQos(ns.a.lsp, { 'qos.max_rate_in': String(mbit) });
    assert.deepEqual(lspQosRows(nb, ns.a.lsp).map((r) => r.direction), ['to-lport'], 'the from-lport row went');
    await assertRate('b', 'a', mbit, 'OVN ingress b -> a');
  });
}

test('DSCP mark on what a sends, seen on b\'s veth on the other host; with a rate limit in the same row', async () => {
  await setQos(ns.a.lsp, { 'qos.max_rate': '50', 'qos.dscp': '46' });
  const h2 = lab.host(2);
  const p = spawn('ip', ['netns', 'exec', h2.ns, 'timeout', '15', 'tcpdump', '-l', '-n', '-v', '-i', ns.b.hostIf!, '-c', '3', `tcp and src host ${ns.a.ip}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<void>((r) => p.on('exit', () => r()));
  await waitFor(() => err.includes('listening'), { timeoutMs: 10_000, what: 'tcpdump on b\'s veth' });
  await assertRate('a', 'b', 50, 'OVN egress a -> b with DSCP');
  await Promise.race([done, sleep(5000)]);
  if (p.exitCode === null) p.kill('SIGKILL');
  assert.match(out, /tos 0xb8/, out);
  assert.doesNotMatch(out, /tos 0x0,/, out);
});

test('clearing removes our rows and the limits', async () => {
  await setQos(ns.a.lsp, { 'qos.max_rate': '10', 'qos.max_rate_in': '10' });
  assert.equal(lspQosRows(nb, ns.a.lsp).length, 2);
  await commitPlan(nb, () => clearLspQosOps(nb, ns.a.lsp));
  await lab.nbctl('--timeout=30', '--wait=hv', 'sync');
  assert.equal(lspQosRows(nb, ns.a.lsp).length, 0);
  assert.equal(await lab.nbctl('--bare', '--columns=qos_rules', 'list', 'Logical_Switch', SWITCH), '');
  assert.equal(await lab.nbctl('--bare', '--columns=_uuid', 'list', 'QoS'), '', 'no QoS row left (not root: detached = deleted)');
  assert.ok((await iperf('a', 'b')) > 30, 'a sends unlimited again');
});
