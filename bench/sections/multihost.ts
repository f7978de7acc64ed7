// 6 (continued). Data path across hosts: two lab hosts (network namespaces, each with its own
// ovs-vswitchd on the userspace datapath, underlay MTU 1600), iperf3 TCP between containers the
// plugin attached and namespaces wired by hand on the same fabric, alternated round by round:
// - OVN logical switch over Geneve and over VXLAN: hand-wired = a veth on br-int with a logical
//   port made by ovn-nbctl;
// - plain overlays (no OVN), VXLAN and Geneve: hand-wired = a bridge with one tunnel port per
//   host made by ovs-vsctl, and namespaces on it with the overlay MTU.
// The issue sets no target here (its ≥ 0.95× is for one host): the figures carry none.
import { startLab, Lab } from '../../test/lab/lab';
import { run, runOk } from '../../test/harness/exec';
import type { Plugin } from '../../test/harness/plugin';
import { attach, createNetwork, Ctr } from '../../test/multihost/attach';
import type { Ctx } from '../lib/context';
import { onCleanup } from '../lib/cleanup';
import { Figure, SectionResult } from '../lib/figures';
import { median, round } from '../lib/stats';
import { sleep } from '../lib/util';
import { iperfGbps } from './datapath';

interface Row { path: string; ours: number[]; hand: number[]; joinMs: number }

async function iperf(serverNs: string, serverIp: string, clientNs: string, seconds: number): Promise<number> {
  const srv = run('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-1', '-B', serverIp], { timeoutMs: 60_000 });
  await sleep(400);
  const c = await runOk('ip', ['netns', 'exec', clientNs, 'iperf3', '-c', serverIp, '-t', String(seconds), '-J'], { timeoutMs: 60_000 });
  await srv;
  return iperfGbps(c.stdout);
}

/** Rounds alternate ours and hand-wired, so drift on the shared machine hits both. */
async function compare(ctx: Ctx, label: string, ours: [Ctr, Ctr], hand: [string, string, string], rounds: number, seconds: number): Promise<Row> {
  const row: Row = { path: label, ours: [], hand: [], joinMs: Math.max(ours[0].joinMs, ours[1].joinMs) };
  for (let i = 0; i < rounds; i++) {
    row.ours.push(await iperf(ours[1].ns, ours[1].ip, ours[0].ns, seconds));
    row.hand.push(await iperf(hand[1], hand[2], hand[0], seconds));
  }
  ctx.log(`${label}: ours ${row.ours.map((x) => x.toFixed(2)).join(' ')}, hand-wired ${row.hand.map((x) => x.toFixed(2)).join(' ')} Gbit/s`);
  return row;
}

/** A lab for the duration of `fn`, destroyed after it (also on a bench abort). */
async function withLab<T>(opts: Parameters<typeof startLab>[0], fn: (lab: Lab, extraNs: string[]) => Promise<T>): Promise<T> {
  const lab = await startLab(opts);
  const extra: string[] = [];
  const undo = onCleanup('lab', async () => {
    for (const n of extra) await run('ip', ['netns', 'del', n]);
    await lab.destroy();
  });
  try {
    return await fn(lab, extra);
  } finally {
    await undo();
  }
}

function ovnRow(ctx: Ctx, encap: 'geneve' | 'vxlan', rounds: number, seconds: number): Promise<Row> {
  return withLab({ hosts: 2, ovn: true, chassis: 'external', encap }, async (lab, extra) => {
    for (const h of lab.hosts) {
      await h.chassisSetup();
      await lab.startController(h);
    }
    await lab.waitTunnels();
    const plugins: Plugin[] = [];
    for (const h of lab.hosts) plugins.push(await h.startPlugin(['--ovn-nb', lab.nbRemote], { logLevel: 'warn' }));
    const nets = [];
    for (const p of plugins) nets.push(await createNetwork(p, '10.80.0.0/24', { 'ovn.switch': 'bench' }));
    const a = await attach(lab.hosts[0], plugins[0], nets[0], `ocnbm${encap[0]}a`);
    const b = await attach(lab.hosts[1], plugins[1], nets[1], `ocnbm${encap[0]}b`);
    extra.push(a.ns, b.ns);
    await lab.nbctl('ls-add', 'hand');
    for (const [n, ip, mac] of [['ha', '10.81.0.2', '0a:58:0a:51:00:02'], ['hb', '10.81.0.3', '0a:58:0a:51:00:03']]) {
      await lab.nbctl('lsp-add', 'hand', `lsp-${n}`, '--', 'lsp-set-addresses', `lsp-${n}`, `${mac} ${ip}`);
    }
    const ha = await lab.addNs('ha', lab.hosts[0], { cidr: '10.81.0.2/24', mac: '0a:58:0a:51:00:02', ifaceId: 'lsp-ha' });
    const hb = await lab.addNs('hb', lab.hosts[1], { cidr: '10.81.0.3/24', mac: '0a:58:0a:51:00:03', ifaceId: 'lsp-hb' });
    await lab.nbctl('--wait=hv', 'sync');
    for (let i = 0; i < 20 && !(await ha.ping('10.81.0.3')); i++) await sleep(250);
    return compare(ctx, `OVN logical switch, ${encap}`, [a, b], [ha.ns, hb.ns, '10.81.0.3'], rounds, seconds);
  });
}

function overlayRows(ctx: Ctx, rounds: number, seconds: number): Promise<Row[]> {
  return withLab({ hosts: 2, ovn: false }, async (lab, extra) => {
    const rows: Row[] = [];
    const plugins: Plugin[] = [];
    for (const h of lab.hosts) {
      const peers = lab.hosts.filter((x) => x !== h).map((x) => x.ip).join(',');
      plugins.push(await h.startPlugin(['--peers', peers, '--underlay-mtu', '1600'], { logLevel: 'warn' }));
    }
    for (const [type, vni, octet] of [['vxlan', '6001', 2], ['geneve', '6002', 3]] as const) {
      const nets = await Promise.all(plugins.map((p, i) => createNetwork(p, `10.8${octet}.0.0/24`, { bridge: 'br-ov', overlay: type, vni }, undefined, `10.8${octet}.0.${64 * (i + 1)}/26`)));
      const a = await attach(lab.hosts[0], plugins[0], nets[0], `ocnbo${type[0]}a`);
      const b = await attach(lab.hosts[1], plugins[1], nets[1], `ocnbo${type[0]}b`);
      extra.push(a.ns, b.ns);
      const key = type === 'vxlan' ? '7001' : '7002';
      for (const [i, h] of lab.hosts.entries()) {
        await h.vsctl('--may-exist', 'add-br', `brh${type[0]}`, '--', 'set', 'Bridge', `brh${type[0]}`, 'datapath_type=netdev');
        await h.vsctl('--may-exist', 'add-port', `brh${type[0]}`, `th${type[0]}`, '--', 'set', 'Interface', `th${type[0]}`, `type=${type}`, `options:remote_ip=${lab.hosts[1 - i].ip}`, `options:key=${key}`);
      }
      const mtu = type === 'vxlan' ? 1550 : 1542; // the overlay MTU the plugin derives from 1600
      const sub = `10.84.${octet - 1}`;
      const ha = await lab.addNs(`h${type[0]}a`, lab.hosts[0], { cidr: `${sub}.2/24`, bridge: `brh${type[0]}`, mtu });
      const hb = await lab.addNs(`h${type[0]}b`, lab.hosts[1], { cidr: `${sub}.3/24`, bridge: `brh${type[0]}`, mtu });
      for (let i = 0; i < 20 && !(await ha.ping(`${sub}.3`)); i++) await sleep(250);
      rows.push(await compare(ctx, `plain overlay, ${type}`, [a, b], [ha.ns, hb.ns, `${sub}.3`], rounds, seconds));
    }
    return rows;
  });
}

export async function runMultihost(ctx: Ctx): Promise<SectionResult> {
  const rounds = ctx.quick ? 2 : 3;
  const seconds = ctx.quick ? 2 : 4;
  const rows = [await ovnRow(ctx, 'geneve', rounds, seconds), await ovnRow(ctx, 'vxlan', rounds, seconds), ...(await overlayRows(ctx, rounds, seconds))];
  const figures: Figure[] = rows.map((r) => {
    const ours = median(r.ours);
    const hand = median(r.hand);
    return {
      id: `multihost.${r.path.replace(/[^a-z]+/gi, '-').toLowerCase()}`,
      section: 'multihost',
      label: `iperf3 TCP across two hosts, ${r.path}, median`,
      value: round(ours),
      unit: 'Gbit/s',
      compare: { label: 'hand-wired on the same fabric', value: round(hand), unit: 'Gbit/s' },
      ratio: { value: round(ours / hand), label: 'ours ÷ hand-wired' },
      detail: `${rounds} × ${seconds} s each, alternating; ours ${r.ours.map((x) => round(x)).join(' ')}, hand ${r.hand.map((x) => round(x)).join(' ')} Gbit/s; slowest Join ${r.joinMs} ms`,
    };
  });
  return {
    section: 'multihost',
    figures,
    data: { rounds, seconds, rows },
    notes: [
      'Two lab hosts are network namespaces of this one 2-core machine, each with its own ovs-vswitchd on the userspace datapath (underlay MTU 1600): both paths are bound by those daemons, not by the encapsulation.',
    ],
  };
}
