// 7. What security groups cost on a plain network, side by side with the same network without
// them, one daemon: the attach (RequestAddress + CreateEndpoint + Join, which with groups also
// renders and applies the bridge's conntrack flows before it answers), alternating between the
// two networks; and same-host TCP throughput (iperf3) between two containers in a group of 100
// rules against two unfiltered ones, alternating rounds (the userspace datapath varies between
// runs more than inside one round).
import { runOk } from '../../test/harness/exec';
import { createNetns, deleteNetns, nsExec, nsSpawn } from '../../test/harness/netns';
import type { Ctx } from '../lib/context';
import { onCleanup } from '../lib/cleanup';
import { Figure, SectionResult } from '../lib/figures';
import { benchBridge } from '../lib/ovs';
import { startBenchPlugin } from '../lib/plugins';
import { freeSubnets } from '../lib/subnets';
import { median, round } from '../lib/stats';
import { sleep } from '../lib/util';
import { attach, BenchNet, createNetwork, detach } from '../lib/workload';
import type { PluginClient } from '../lib/client';
import { iperfGbps } from './datapath';

const RULES = 100;
const IPERF_PORT = 5201;

async function rpc(client: PluginClient, method: string, params: unknown): Promise<unknown> {
  const a = await client.call<{ result?: unknown; error?: { message: string } }>('ocn/v1/rpc', { jsonrpc: '2.0', id: 1, method, params });
  if (a.error) throw new Error(`${method}: ${a.error.message}`);
  return a.result;
}

/** A group of `RULES` ingress rules, the last of which lets iperf3 in. */
function benchGroup(name: string, subnet: string): Record<string, unknown> {
  const ingress: Record<string, unknown>[] = [];
  for (let i = 0; i < RULES - 1; i++) ingress.push({ protocol: i % 2 ? 'udp' : 'tcp', ports: String(10000 + i), remote: `10.${100 + (i % 50)}.0.0/16` });
  ingress.push({ protocol: 'tcp', ports: String(IPERF_PORT), remote: subnet });
  return { name, tenant: 'bench', ingress, egress: [{ protocol: 'all', remote: '0.0.0.0/0' }] };
}

/** Two containers (namespaces) on a network, iperf3 server in the second. */
async function pair(net: BenchNet, tag: string): Promise<{ client: (args: string[], ms: number) => Promise<{ code: number; stdout: string; stderr: string }>; serverIp: string }> {
  const nss: string[] = [];
  for (const side of ['a', 'b']) {
    const ep = await attach(net);
    const ns = await createNetns(`sg${tag}${side}`);
    onCleanup(`netns ${ns}`, () => deleteNetns(ns));
    const peer = `${ep.host.slice(0, 3)}c${ep.host.slice(4)}`;
    await runOk('ip', ['link', 'set', peer, 'netns', ns]);
    await runOk('ip', ['-n', ns, 'link', 'set', peer, 'name', 'eth0']);
    await runOk('ip', ['-n', ns, 'addr', 'add', ep.address, 'dev', 'eth0']);
    await runOk('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    nss.push(ns);
    if (side === 'b') {
      const srv = nsSpawn(ns, 'iperf3', ['-s']);
      onCleanup(`iperf3 server in ${ns}`, () => srv.stop());
      return { client: (args, ms) => nsExec(nss[0], args[0], args.slice(1), { timeoutMs: ms }), serverIp: ep.address.split('/')[0] };
    }
  }
  throw new Error('unreachable');
}

async function iperf(side: { client: (args: string[], ms: number) => Promise<{ code: number; stdout: string; stderr: string }>; serverIp: string }, seconds: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const r = await side.client(['iperf3', '-c', side.serverIp, '-p', String(IPERF_PORT), '-t', String(seconds), '-O', '1', '-J'], (seconds + 30) * 1000);
    if (r.code === 0) return iperfGbps(r.stdout);
    if (attempt >= 5) throw new Error(`iperf3 to ${side.serverIp} failed: ${(r.stderr || r.stdout).slice(0, 300)}`);
    await sleep(500);
  }
}

export async function runSecgroups(ctx: Ctx): Promise<SectionResult> {
  const q = ctx.quick;
  const n = q ? 10 : 40;
  const rounds = q ? 3 : 5;
  const plugin = await startBenchPlugin('sg', 'product', { args: ['--join-grace-ms', '0'], logLevel: process.env.OCN_BENCH_LOG ?? 'warn' });
  const [sPlain, sGroups] = freeSubnets(2);
  const bPlain = benchBridge('p');
  const bGroups = benchBridge('g');
  await rpc(plugin.client, 'sg.create', benchGroup('bench', sGroups));
  onCleanup('group bench', async () => { await rpc(plugin.client, 'sg.delete', { name: 'bench', tenant: 'bench' }).catch(() => undefined); await rpc(plugin.client, 'sg.delete', { name: 'default', tenant: 'bench' }).catch(() => undefined); });
  const plain = await createNetwork(plugin.client, { bridge: bPlain, subnet: sPlain, gateway: 'external' });
  const groups = await createNetwork(plugin.client, { bridge: bGroups, subnet: sGroups, gateway: 'external', options: { tenant_id: 'bench', security_groups: 'bench' } });

  // Attach cost: alternating, so both see the same machine; the pool is warm for both.
  const times = { plain: [] as number[], groups: [] as number[] };
  const joins = { plain: [] as number[], groups: [] as number[] };
  const eps: { net: BenchNet; ep: Awaited<ReturnType<typeof attach>> }[] = [];
  for (let i = 0; i < n; i++) {
    for (const [net, kind] of [[plain, 'plain'], [groups, 'groups']] as const) {
      const t0 = process.hrtime.bigint();
      const ep = await attach(net, (s) => joins[kind].push(s.join));
      times[kind].push(Number(process.hrtime.bigint() - t0) / 1e6);
      eps.push({ net, ep });
    }
  }
  for (const { net, ep } of eps) await detach(net, ep);
  const p50 = { plain: median(times.plain), groups: median(times.groups) };
  ctx.log(`attach p50: ${round(p50.groups, 2)} ms in a group of ${RULES} rules, ${round(p50.plain, 2)} ms without (${n} each); Join p50 ${round(median(joins.groups), 2)} vs ${round(median(joins.plain), 2)} ms`);

  // Throughput: alternating rounds, the ratio per round.
  const sides = { plain: await pair(plain, 'p'), groups: await pair(groups, 'g') };
  await sleep(500);
  const gbps = { plain: [] as number[], groups: [] as number[] };
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = await iperf(sides.plain, 3);
    const b = await iperf(sides.groups, 3);
    gbps.plain.push(a);
    gbps.groups.push(b);
    ratios.push(b / a);
  }
  const tp = { plain: median(gbps.plain), groups: median(gbps.groups), ratio: median(ratios) };
  ctx.log(`same-host TCP: ${round(tp.groups, 2)} Gbit/s with ${RULES} rules, ${round(tp.plain, 2)} without (median ratio ${round(tp.ratio, 2)})`);

  const figures: Figure[] = [
    {
      id: 'sg.attach.p50', section: 'secgroups', label: `attach p50, endpoint in a group of ${RULES} rules (plain network)`, value: round(p50.groups, 2), unit: 'ms',
      compare: { label: 'same, no groups', value: round(p50.plain, 2), unit: 'ms' }, ratio: { value: round(p50.groups / p50.plain, 2), label: 'with ÷ without' },
      detail: `${n} each, alternating`,
    },
    {
      id: 'sg.tcp', section: 'secgroups', label: `same-host TCP, both ends in a group of ${RULES} rules`, value: round(tp.groups, 2), unit: 'Gbit/s',
      compare: { label: 'same, no groups', value: round(tp.plain, 2), unit: 'Gbit/s' }, ratio: { value: round(tp.ratio, 2), label: 'with ÷ without (median per round)' },
      detail: `${rounds} rounds of 3 s, alternating`,
    },
  ];
  return {
    section: 'secgroups', figures, notes: [
      `Security groups on a plain network: Join renders and applies the bridge's conntrack flows (one ovs-ofctl bundle) before it answers; that is the attach's extra cost. On the data path every packet of a filtered endpoint goes through conntrack (userspace, netdev) and its group's rule flows.`,
    ],
    data: { times, joins, gbps, ratios, rules: RULES },
  };
}
