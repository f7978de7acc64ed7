// 6. Data path, same host: iperf3 TCP between two containers on our network against two network
// namespaces wired by hand onto a bridge of the same type (veth + ovs-vsctl add-port + ethtool -K
// tx off on both ends, what the plugin automates). Runs alternate between the two pairs and the
// medians are compared: the userspace datapath varies by about 15 % between runs, the ratio
// inside one run much less. The multi-host data path is not measured yet (see docs).
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

function iperfGbps(json: string): number {
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
  const pairs = q ? 3 : 8;
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

  // connectivity first (ARP, the ports forwarding), then alternate the runs
  for (const [side, check] of [[oursSide, () => d.docker(['exec', names[0], 'ping', '-c', '1', '-W', '2', ipB])], [handSide, () => nsExec(nsA, 'busybox', ['ping', '-c', '1', '-W', '2', hB])]] as const) {
    let okPing = false;
    for (let i = 0; i < 10 && !okPing; i++) okPing = (await check()).code === 0;
    if (!okPing) throw new Error(`no ping across the ${side.name}`);
  }
  await iperf(oursSide, 1); // warm-up, not recorded
  await iperf(handSide, 1);
  const got: Record<string, number[]> = { ours: [], hand: [] };
  ctx.log(`iperf3: ${pairs} runs of ${seconds} s on each pair, alternating`);
  for (let i = 0; i < pairs; i++) {
    const order: [string, Side][] = i % 2 ? [['hand', handSide], ['ours', oursSide]] : [['ours', oursSide], ['hand', handSide]];
    for (const [k, side] of order) got[k].push(await iperf(side, seconds));
  }
  const mo = median(got.ours);
  const mh = median(got.hand);
  // each pair of runs is back to back: the median of the per-pair ratios cancels slow drift
  const ratio = median(got.ours.map((o, i) => o / got.hand[i]));
  figures.push({
    id: 'datapath.tcp', section: 'datapath', label: 'iperf3 TCP, two containers on our network (same host), median',
    value: mo, unit: 'Gbit/s', compare: { label: 'hand-wired OVS port pair', value: mh, unit: 'Gbit/s' },
    ratio: { value: ratio, label: 'median of per-pair ours ÷ hand-wired' }, target: target('>=', 0.95, 'ratio', ratio, '≥ 0.95× hand-wired'),
    detail: `${pairs} × ${seconds} s each, alternated; ratio of medians ${round(mo / mh)}; ours ${got.ours.map((x) => round(x)).join(' ')}; hand ${got.hand.map((x) => round(x)).join(' ')} Gbit/s`,
  });
  for (const c of servers) await terminate(c.pid!, 3000);
  await hs.stop();
  for (const n of names) await d.docker(['rm', '-f', n]);
  await d.docker(['network', 'rm', ours]);
  notes.push(`Both pairs run through the same ovs-vswitchd (${bridgeDatapathType()} datapath), which is the bottleneck; the plugin is not on the data path at all once the ports exist.`);
  return {
    section: 'datapath',
    figures,
    data: { gbps: { ours: got.ours.map((x) => round(x)), hand: got.hand.map((x) => round(x)) }, seconds, pairs, datapath: bridgeDatapathType() },
    notes,
  };
}
