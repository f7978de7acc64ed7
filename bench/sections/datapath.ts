// 6. Data path, same host: iperf3 TCP between two containers on our network against two network
// namespaces wired by hand onto a bridge of the same type (veth + ovs-vsctl add-port + ethtool -K
// tx off on both ends, what the plugin automates). A third pair is wired the same way and given the
// iptables rules dockerd put into the containers' namespaces (the embedded DNS resolver's NAT
// rules, which switch conntrack on there): the difference between the two hand-wired pairs is
// Docker's, the difference between the containers and the third pair is the plugin's. Runs
// alternate between the pairs and per-round ratios are compared: the userspace datapath varies
// by about 15 % between runs, the ratio inside one round much less. Across hosts: multihost.ts.
import { ChildProcess, spawn } from 'node:child_process';
import { run, runOk, terminate } from '../../test/harness/exec';
import { BUSYBOX_IMAGE } from '../../test/harness/image';
import { createNetns, deleteNetns, nsExec, nsSpawn } from '../../test/harness/netns';
import { bridgeDatapathType, vsctl, vsctlRun } from '../../test/harness/ovs';
import type { Ctx } from '../lib/context';
import { onCleanup } from '../lib/cleanup';
import { dockerEnv } from '../lib/docker';
import { Figure, SectionResult, target } from '../lib/figures';
import { benchBridge } from '../lib/ovs';
import { RUN_TAG } from '../lib/plugins';
import { freeSubnets, hostIn } from '../lib/subnets';
import { median, round } from '../lib/stats';
import { sleep } from '../lib/util';

interface Side {
  name: string;
  /** Runs a command in the client's network namespace. */
  client(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }>;
  serverIp: string;
}

/** Gbit/s received, from `iperf3 -J` output; throws with iperf3's own error. */
export function iperfGbps(json: string): number {
  const r = JSON.parse(json) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
  if (r.error) throw new Error(`iperf3: ${r.error}`);
  const bps = r.end?.sum_received?.bits_per_second;
  if (!bps) throw new Error('iperf3: no sum_received in its JSON');
  return bps / 1e9;
}

async function iperf(side: Side, seconds: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const r = await side.client(['iperf3', '-c', side.serverIp, '-t', String(seconds), '-O', '1', '-J'], (seconds + 30) * 1000);
    if (r.code === 0) return iperfGbps(r.stdout);
    if (attempt >= 5) throw new Error(`iperf3 on ${side.name} failed: ${(r.stderr || r.stdout).slice(0, 400)}`);
    await sleep(500); // the server may not listen yet
  }
}

export async function runDatapath(ctx: Ctx): Promise<SectionResult> {
  const q = ctx.quick;
  const seconds = q ? 2 : 3;
  const pairs = q ? 3 : 7;
  const { d, plugin } = await dockerEnv(ctx);
  const figures: Figure[] = [];
  const notes: string[] = [];
  const [sOurs, sHand] = freeSubnets(2);

  // ---------------------------------------------------------------- two containers on our network
  const ours = `ocnb-${RUN_TAG}-tp`;
  const obridge = benchBridge('t');
  await d.dockerOk(['network', 'create', '-d', plugin.name, '--subnet', sOurs, '-o', `bridge=${obridge}`, ours]);
  onCleanup(`docker network ${ours}`, () => d.docker(['network', 'rm', ours]));
  const names = [`ocnb${RUN_TAG}ta`, `ocnb${RUN_TAG}tb`];
  for (const n of names) {
    await d.dockerOk(['run', '-d', '--name', n, '--network', ours, BUSYBOX_IMAGE, 'sleep', '3600']);
    onCleanup(`container ${n}`, () => d.docker(['rm', '-f', n]));
  }
  const pid = async (n: string) => Number((await d.dockerOk(['inspect', '-f', '{{.State.Pid}}', n])).stdout.trim());
  const [pa, pb] = [await pid(names[0]), await pid(names[1])];
  const ipB = (await d.dockerOk(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', names[1]])).stdout.trim();
  const servers: ChildProcess[] = [];
  const spawnServer = (cmd: string, args: string[]) => {
    const c = spawn(cmd, args, { stdio: 'ignore' });
    servers.push(c);
    onCleanup(`iperf3 server ${c.pid}`, () => terminate(c.pid!, 3000));
    return c;
  };
  spawnServer('nsenter', ['-t', String(pb), '-n', 'iperf3', '-s']);
  const oursSide: Side = {
    name: 'our network',
    serverIp: ipB,
    client: (args, timeoutMs) => run('nsenter', ['-t', String(pa), '-n', ...args], { timeoutMs }),
  };

  // ---------------------------------------------------------------- two namespaces wired by hand
  const hbridge = benchBridge('h');
  await vsctl('add-br', hbridge, '--', 'set', 'Bridge', hbridge, `datapath_type=${bridgeDatapathType()}`);
  const nsA = await createNetns(`ocnb${RUN_TAG}ha`);
  const nsB = await createNetns(`ocnb${RUN_TAG}hb`);
  onCleanup('hand-wired namespaces', async () => {
    await deleteNetns(nsA);
    await deleteNetns(nsB);
  });
  const wire = async (ns: string, host: string, ip: string) => {
    await runOk('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    onCleanup(`veth ${host}`, () => run('ip', ['link', 'del', host]));
    await runOk('ethtool', ['-K', host, 'tx', 'off']);
    await runOk('ip', ['netns', 'exec', ns, 'ethtool', '-K', 'eth0', 'tx', 'off']);
    await vsctl('add-port', hbridge, host);
    onCleanup(`port ${host}`, () => vsctlRun('--if-exists', 'del-port', hbridge, host));
    await runOk('ip', ['link', 'set', host, 'up']);
    await runOk('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await runOk('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  };
  const hA = hostIn(sHand, 2);
  const hB = hostIn(sHand, 3);
  await wire(nsA, `ocbw${RUN_TAG}a`, hA);
  await wire(nsB, `ocbw${RUN_TAG}b`, hB);
  const hs = nsSpawn(nsB, 'iperf3', ['-s']);
  onCleanup('hand iperf3 server', () => hs.stop());
  const handSide: Side = { name: 'hand-wired pair', serverIp: hB, client: (args, timeoutMs) => nsExec(nsA, args[0], args.slice(1), { timeoutMs }) };

  // the third pair: hand-wired, plus the containers' own iptables state
  const nsC = await createNetns(`ocnb${RUN_TAG}hc`);
  const nsD = await createNetns(`ocnb${RUN_TAG}hd`);
  onCleanup('hand-wired namespaces (docker rules)', async () => {
    await deleteNetns(nsC);
    await deleteNetns(nsD);
  });
  const hC = hostIn(sHand, 4);
  const hD = hostIn(sHand, 5);
  await wire(nsC, `ocbw${RUN_TAG}c`, hC);
  await wire(nsD, `ocbw${RUN_TAG}d`, hD);
  const dockerRules: Record<string, string> = {};
  for (const [pid, ns] of [[pa, nsC], [pb, nsD]] as const) {
    const saved = (await runOk('nsenter', ['-t', String(pid), '-n', 'iptables-save'])).stdout;
    dockerRules[ns] = saved;
    await runOk('ip', ['netns', 'exec', ns, 'iptables-restore'], { input: saved });
  }
  const hsd = nsSpawn(nsD, 'iperf3', ['-s']);
  onCleanup('hand iperf3 server (docker rules)', () => hsd.stop());
  const handRulesSide: Side = { name: "hand-wired pair with the containers' iptables rules", serverIp: hD, client: (args, timeoutMs) => nsExec(nsC, args[0], args.slice(1), { timeoutMs }) };

  // connectivity first (ARP, the ports forwarding), then alternate the runs
  for (const [side, check] of [
    [oursSide, () => d.docker(['exec', names[0], 'ping', '-c', '1', '-W', '2', ipB])],
    [handSide, () => nsExec(nsA, 'busybox', ['ping', '-c', '1', '-W', '2', hB])],
    [handRulesSide, () => nsExec(nsC, 'busybox', ['ping', '-c', '1', '-W', '2', hD])],
  ] as const) {
    let okPing = false;
    for (let i = 0; i < 10 && !okPing; i++) okPing = (await check()).code === 0;
    if (!okPing) throw new Error(`no ping across the ${side.name}`);
  }
  const sides: [string, Side][] = [['ours', oursSide], ['hand', handSide], ['handRules', handRulesSide]];
  for (const [, side] of sides) await iperf(side, 1); // warm-up, not recorded
  const got: Record<string, number[]> = { ours: [], hand: [], handRules: [] };
  ctx.log(`iperf3: ${pairs} rounds of ${seconds} s on each of ${sides.length} pairs, order rotating`);
  for (let i = 0; i < pairs; i++) {
    const order = sides.map((_, j) => sides[(i + j) % sides.length]);
    for (const [k, side] of order) got[k].push(await iperf(side, seconds));
  }
  const mo = median(got.ours);
  // each round's runs are back to back: the median of the per-round ratios cancels slow drift
  const perRound = (k: string) => median(got.ours.map((o, i) => o / got[k][i]));
  for (const [k, label] of [['hand', 'hand-wired OVS port pair'], ['handRules', "hand-wired pair + the containers' iptables rules"]] as const) {
    const ratio = perRound(k);
    const mk = median(got[k]);
    figures.push({
      id: k === 'hand' ? 'datapath.tcp' : 'datapath.tcp.rules', section: 'datapath',
      label: k === 'hand' ? 'iperf3 TCP, two containers on our network (same host), median' : 'same, against a hand-wired pair with the same iptables state',
      value: mo, unit: 'Gbit/s', compare: { label, value: mk, unit: 'Gbit/s' },
      ratio: { value: ratio, label: 'median of per-round ours ÷ hand-wired' }, target: target('>=', 0.95, 'ratio', ratio, '≥ 0.95× hand-wired'),
      detail: `${pairs} × ${seconds} s each, rotating; ratio of medians ${round(mo / mk)}; ${k}: ${got[k].map((x) => round(x)).join(' ')} Gbit/s${k === 'hand' ? `; ours ${got.ours.map((x) => round(x)).join(' ')}` : ''}`,
    });
  }
  for (const c of servers) await terminate(c.pid!, 3000);
  await hs.stop();
  await hsd.stop();
  for (const n of names) await d.docker(['rm', '-f', n]);
  await d.docker(['network', 'rm', ours]);
  notes.push(`All pairs run through the same ovs-vswitchd (${bridgeDatapathType()} datapath), which is the bottleneck; the plugin is not on the data path at all once the ports exist.`);
  const rules = Object.values(dockerRules)[0] ?? '';
  if (/\*nat/.test(rules)) {
    notes.push(`dockerd puts NAT rules for its embedded DNS resolver (127.0.0.11) into every container's namespace on a user-defined network, whatever the driver; they switch conntrack on there. Hand-wired namespaces with the same rules ran at ${round(median(got.handRules) / median(got.hand))}× the plain hand-wired pair (ratio of medians).`);
  }
  return {
    section: 'datapath',
    figures,
    data: {
      gbps: Object.fromEntries(Object.entries(got).map(([k, v]) => [k, v.map((x) => round(x))])),
      seconds, pairs, datapath: bridgeDatapathType(),
      containerIptables: Object.values(dockerRules)[0]?.split('\n').filter((l) => l && !l.startsWith('#')),
    },
    notes,
  };
}
