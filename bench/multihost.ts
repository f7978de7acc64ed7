// `make bench-multihost`: cross-host data path on the lab (two hosts, userspace datapath):
// iperf3 TCP between containers attached by the plugin versus namespaces wired by hand on the
// same fabric, alternated in one run, for OVN over Geneve and VXLAN and for plain overlays.
// Writes bench/results/multihost-<date>.json and docs/benchmarks-multihost.md.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startLab, Lab } from '../test/lab/lab';
import { run, runOk } from '../test/harness/exec';
import { repoRoot } from '../test/harness/paths';
import type { Plugin } from '../test/harness/plugin';
import { attach, createNetwork, Ctr } from '../test/multihost/attach';

interface Row { path: string; ours: number; hand: number; ratio: number; attachMs?: number }
const SECONDS = 4;
const ROUNDS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function iperf(serverNs: string, serverIp: string, clientNs: string): Promise<number> {
  const srv = run('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-1', '-B', serverIp], { timeoutMs: 60_000 });
  await new Promise((r) => setTimeout(r, 400));
  const c = await runOk('ip', ['netns', 'exec', clientNs, 'iperf3', '-c', serverIp, '-t', String(SECONDS), '-J'], { timeoutMs: 60_000 });
  await srv;
  const j = JSON.parse(c.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e9;
}

async function compare(label: string, ours: [Ctr, Ctr], hand: [string, string, string]): Promise<Row> {
  const o: number[] = [];
  const h: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    o.push(await iperf(ours[1].ns, ours[1].ip, ours[0].ns));
    h.push(await iperf(hand[1], hand[2], hand[0]));
  }
  const row = { path: label, ours: median(o), hand: median(h), ratio: median(o) / median(h), attachMs: Math.max(ours[0].joinMs, ours[1].joinMs) };
  console.log(`${label.padEnd(34)} ours ${row.ours.toFixed(2)} Gbit/s  hand-wired ${row.hand.toFixed(2)} Gbit/s  ratio ${row.ratio.toFixed(2)}`);
  return row;
}

async function ovnRows(encap: 'geneve' | 'vxlan'): Promise<Row[]> {
  const lab: Lab = await startLab({ hosts: 2, ovn: true, chassis: 'external', encap });
  const extra: string[] = [];
  try {
    for (const h of lab.hosts) { await h.chassisSetup(); await lab.startController(h); }
    await lab.waitTunnels();
    const plugins: Plugin[] = [];
    for (const h of lab.hosts) plugins.push(await h.startPlugin(['--ovn-nb', lab.nbRemote], { logLevel: 'warn' }));
    const nets = [];
    for (const p of plugins) nets.push(await createNetwork(p, '10.80.0.0/24', { 'ovn.switch': 'bench' }));
    const a = await attach(lab.hosts[0], plugins[0], nets[0], `ocnbm${encap[0]}a`);
    const b = await attach(lab.hosts[1], plugins[1], nets[1], `ocnbm${encap[0]}b`);
    extra.push(a.ns, b.ns);
    // Hand-wired: namespaces with a veth on br-int (tx off), logical ports made with ovn-nbctl.
    await lab.nbctl('ls-add', 'hand');
    for (const [n, ip, mac] of [['ha', '10.81.0.2', '0a:58:0a:51:00:02'], ['hb', '10.81.0.3', '0a:58:0a:51:00:03']]) {
      await lab.nbctl('lsp-add', 'hand', `lsp-${n}`, '--', 'lsp-set-addresses', `lsp-${n}`, `${mac} ${ip}`);
    }
    const ha = await lab.addNs('ha', lab.hosts[0], { cidr: '10.81.0.2/24', mac: '0a:58:0a:51:00:02', ifaceId: 'lsp-ha' });
    const hb = await lab.addNs('hb', lab.hosts[1], { cidr: '10.81.0.3/24', mac: '0a:58:0a:51:00:03', ifaceId: 'lsp-hb' });
    await lab.nbctl('--wait=hv', 'sync');
    for (let i = 0; i < 20 && !(await ha.ping('10.81.0.3')); i++) await new Promise((r) => setTimeout(r, 250));
    return [await compare(`OVN logical switch, ${encap}`, [a, b], [ha.ns, hb.ns, '10.81.0.3'])];
  } finally {
    for (const n of extra) await run('ip', ['netns', 'del', n]);
    await lab.destroy();
  }
}

async function overlayRows(): Promise<Row[]> {
  const lab: Lab = await startLab({ hosts: 2, ovn: false });
  const extra: string[] = [];
  try {
    const rows: Row[] = [];
    const plugins: Plugin[] = [];
    for (const h of lab.hosts) plugins.push(await h.startPlugin(['--peers', lab.hosts.filter((x) => x !== h).map((x) => x.ip).join(','), '--underlay-mtu', '1600'], { logLevel: 'warn' }));
    for (const [type, vni] of [['vxlan', '6001'], ['geneve', '6002']] as const) {
      const nets = await Promise.all(plugins.map((p, i) => createNetwork(p, `10.8${type === 'vxlan' ? 2 : 3}.0.0/24`, { bridge: 'br-ov', overlay: type, vni }, undefined, `10.8${type === 'vxlan' ? 2 : 3}.0.${64 * (i + 1)}/26`)));
      const a = await attach(lab.hosts[0], plugins[0], nets[0], `ocnbo${type[0]}a`);
      const b = await attach(lab.hosts[1], plugins[1], nets[1], `ocnbo${type[0]}b`);
      extra.push(a.ns, b.ns);
      // Hand-wired: a plain tunnel port per host on a bridge of its own, ports added with ovs-vsctl.
      const key = type === 'vxlan' ? '7001' : '7002';
      for (const [i, h] of lab.hosts.entries()) {
        const peer = lab.hosts[1 - i].ip;
        await h.vsctl('--may-exist', 'add-br', `brh${type[0]}`, '--', 'set', 'Bridge', `brh${type[0]}`, 'datapath_type=netdev');
        await h.vsctl('--may-exist', 'add-port', `brh${type[0]}`, `th${type[0]}`, '--', 'set', 'Interface', `th${type[0]}`, `type=${type}`, `options:remote_ip=${peer}`, `options:key=${key}`);
      }
      const mtu = type === 'vxlan' ? 1550 : 1542;
      const ha = await lab.addNs(`h${type[0]}a`, lab.hosts[0], { cidr: `10.84.${type === 'vxlan' ? 1 : 2}.2/24`, bridge: `brh${type[0]}`, mtu });
      const hb = await lab.addNs(`h${type[0]}b`, lab.hosts[1], { cidr: `10.84.${type === 'vxlan' ? 1 : 2}.3/24`, bridge: `brh${type[0]}`, mtu });
      for (let i = 0; i < 20 && !(await ha.ping(`10.84.${type === 'vxlan' ? 1 : 2}.3`)); i++) await new Promise((r) => setTimeout(r, 250));
      rows.push(await compare(`plain overlay, ${type}`, [a, b], [ha.ns, hb.ns, `10.84.${type === 'vxlan' ? 1 : 2}.3`]));
    }
    return rows;
  } finally {
    for (const n of extra) await run('ip', ['netns', 'del', n]);
    await lab.destroy();
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const rows = [...(await ovnRows('geneve')), ...(await ovnRows('vxlan')), ...(await overlayRows())];
  const stamp = started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const root = repoRoot();
  fs.writeFileSync(path.join(root, 'bench', 'results', `multihost-${stamp}.json`), JSON.stringify({ started: started.toISOString(), seconds: SECONDS, rounds: ROUNDS, rows }, null, 2) + '\n');
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ');
  const md = [
    '# Cross-host benchmarks',
    '',
    '<!-- Generated by `make bench-multihost` (bench/multihost.ts). -->',
    '',
    `Run ${started.toISOString()}: two lab hosts (network namespaces on one 2-core machine, userspace datapath, underlay MTU 1600),`,
    `iperf3 TCP, ${SECONDS} s per run, median of ${ROUNDS} runs alternated with the hand-wired path on the same fabric. Load average after the run: ${load}.`,
    '',
    '| path | ours (Gbit/s) | hand-wired (Gbit/s) | ratio | slowest Join in the run |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.path} | ${r.ours.toFixed(2)} | ${r.hand.toFixed(2)} | ${r.ratio.toFixed(2)} | ${r.attachMs} ms |`),
    '',
    'Hand-wired: for OVN, namespaces with a veth on br-int and logical ports made with `ovn-nbctl`; for plain overlays, a bridge',
    'with one `ovs-vsctl`-made tunnel port per host. The userspace datapath (ovs-vswitchd at 75-97 % of a core) is the',
    'bottleneck on this machine, so both sides are bound by it (see ../shared/notes/lab.md for the baselines).',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(root, 'docs', 'benchmarks-multihost.md'), md);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
