// Shared pieces of the end-to-end suite: one private dockerd + one plugin instance per test file,
// docker CLI shorthands, OVS lookups, and the two halves of teardown: the assertions of a clean
// `docker rm -f` + `docker network rm` (what the product must achieve) and the best-effort
// cleanup that always runs (what the test must achieve, even after a failure).
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { Dockerd, startDockerd } from '../harness/dockerd';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from '../harness/image';
import { Plugin, PluginOptions, startPlugin } from '../harness/plugin';
import { ensureSystemOvs, vsctl, vsctlRun } from '../harness/ovs';
import { forcedSteps, run, RunResult, sleep, waitFor } from '../harness/exec';
import { purgeChains } from '../harness/iptables';
import { chainNames } from '../../src/net/firewall';
import { progressNote } from '../harness/progress';

export const IMAGE = BUSYBOX_IMAGE;
export { sleep, waitFor };

export const note = progressNote('e2e');

export interface Env {
  d: Dockerd;
  p: Plugin;
  /** The driver name: `-d P` and `--ipam-driver P`. */
  P: string;
  /** A fresh bridge name (bre<4hex>) the plugin creates with the file's first network. */
  bridge: string;
  /** Every bridge name the file uses (deleted by cleanup). */
  bridges: string[];
}

/** Private dockerd (with the busybox image) and the real plugin daemon, side by side. */
export async function setup(fileTag: string, plugin: PluginOptions = {}): Promise<Env> {
  await ensureSystemOvs();
  const [dr, pr] = await Promise.allSettled([
    (async () => {
      const dd = await startDockerd({ name: `e2e-${fileTag}-${process.pid}` });
      try {
        await ensureBusyboxImage(dd);
      } catch (e) {
        await dd.cleanup();
        throw e;
      }
      return dd;
    })(),
    startPlugin(plugin),
  ]);
  if (dr.status === 'rejected' || pr.status === 'rejected') {
    if (dr.status === 'fulfilled') await dr.value.cleanup();
    if (pr.status === 'fulfilled') await pr.value.stop();
    throw dr.status === 'rejected' ? dr.reason : (pr as PromiseRejectedResult).reason;
  }
  const d = dr.value;
  const p = pr.value;
  const bridge = `bre${crypto.randomBytes(2).toString('hex')}`;
  note(`dockerd ${d.name} up in ${d.startupMs} ms, plugin ${p.name} in ${Math.round(p.startupMs)} ms, bridge ${bridge}`);
  return { d, p, P: p.name, bridge, bridges: [bridge] };
}

// ---------------------------------------------------------------- docker CLI shorthands

export function docker(env: Env, args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return env.d.docker(args, { timeoutMs });
}

/** Runs the CLI and returns trimmed stdout; throws with stderr on failure. */
export async function dockerOk(env: Env, args: string[], timeoutMs = 120_000): Promise<string> {
  return (await env.d.dockerOk(args, { timeoutMs })).stdout.trim();
}

/** Runs the CLI expecting failure; returns stderr+stdout for message assertions. */
export async function dockerFails(env: Env, args: string[], timeoutMs = 120_000): Promise<string> {
  const r = await env.d.docker(args, { timeoutMs });
  assert.notEqual(r.code, 0, `docker ${args.join(' ')} should have failed, but printed: ${r.stdout}`);
  return `${r.stderr}\n${r.stdout}`;
}

/** `docker run -d --name NAME <args...> IMAGE sleep 1d`: a long-lived container. */
export async function runSleeper(env: Env, name: string, args: string[]): Promise<string> {
  return dockerOk(env, ['run', '-d', '--name', name, ...args, IMAGE, 'sleep', '1d']);
}

export async function exec(env: Env, container: string, cmd: string[], timeoutMs = 60_000): Promise<RunResult> {
  return env.d.docker(['exec', container, ...cmd], { timeoutMs });
}

export interface NetSettings {
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  MacAddress: string;
}

/** A running container's settings on one network (docker inspect). */
export async function netSettings(env: Env, container: string, network: string): Promise<NetSettings> {
  const out = await dockerOk(env, ['inspect', '-f', '{{json .NetworkSettings.Networks}}', container]);
  const nets = JSON.parse(out) as Record<string, NetSettings>;
  assert.ok(nets[network], `${container} is not on ${network}: ${out}`);
  return nets[network];
}

export async function sandboxKey(env: Env, container: string): Promise<string> {
  return dockerOk(env, ['inspect', '-f', '{{.NetworkSettings.SandboxKey}}', container]);
}

export async function networkId(env: Env, network: string): Promise<string> {
  return dockerOk(env, ['network', 'inspect', '-f', '{{.Id}}', network]);
}

/** `ip -o addr show dev IF` inside the container. */
export async function ipAddr(env: Env, container: string, dev = 'eth0'): Promise<string> {
  const r = await exec(env, container, ['ip', '-o', 'addr', 'show', 'dev', dev]);
  assert.equal(r.code, 0, `ip addr in ${container}: ${r.stderr}`);
  return r.stdout;
}

/**
 * Inside a container: true when `target` answers a ping. Up to 4 tries of one echo each (on a
 * loaded machine ovs-vswitchd's userspace datapath gets starved for a second or more and loses
 * packets: seen here with load averages of 10-30); for "must not answer" use pingFails.
 */
export async function pings(env: Env, container: string, target: string, v6 = false): Promise<boolean> {
  const tries = 4;
  for (let i = 0; i < tries; i++) {
    const r = await exec(env, container, [v6 ? 'ping6' : 'ping', '-c', '1', '-W', '3', target], 20_000);
    if (r.code === 0) {
      if (i > 0) note(`ping ${target} from ${container} answered at try ${i + 1}`);
      return true;
    }
  }
  note(`ping ${target} from ${container} failed ${tries} times; ${await netDiag(env, container)}`);
  return false;
}

/** Inside a container: true when one echo to `target` gets no answer within 2 s. */
export async function pingFails(env: Env, container: string, target: string, v6 = false): Promise<boolean> {
  const r = await exec(env, container, [v6 ? 'ping6' : 'ping', '-c', '1', '-W', '2', target], 20_000);
  return r.code !== 0;
}

/** What a container sees of its network: for failure messages. */
export async function netDiag(env: Env, container: string): Promise<string> {
  const parts: string[] = [];
  for (const cmd of [['ip', '-o', 'addr'], ['ip', 'route'], ['ip', 'neigh']]) {
    const r = await exec(env, container, cmd, 10_000);
    parts.push(`${cmd.join(' ')}: ${(r.stdout + r.stderr).trim().replace(/\s*\n\s*/g, ' | ')}`);
  }
  return parts.join('; ');
}

/**
 * Inside a container: `arping` (busybox, 2 probes in 2 s) on eth0; true when the target answered.
 * `tries` > 1 for "must answer" checks (a starved userspace datapath can lose a probe or two);
 * "must not answer" checks keep one round.
 */
export async function arpAnswers(env: Env, container: string, target: string, tries = 1): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    const r = await exec(env, container, ['arping', '-c', '2', '-w', '2', '-I', 'eth0', target], 20_000);
    if (/Received [1-9]/.test(r.stdout + r.stderr)) {
      if (i > 0) note(`arping ${target} from ${container} answered at try ${i + 1}`);
      return true;
    }
  }
  if (tries > 1) note(`arping ${target} from ${container} failed ${tries} times; ${await netDiag(env, container)}`);
  return false;
}

// ---------------------------------------------------------------- OVS and kernel lookups

export type ExtIds = Record<string, string>;

/** Rows of `ovs-vsctl find TABLE COND`: name plus external_ids as an object. */
export async function ovsFind(table: string, ...conds: string[]): Promise<{ name: string; uuid: string; ids: ExtIds }[]> {
  const out = await vsctl('--format=json', '--columns=_uuid,name,external_ids', 'find', table, ...conds);
  const j = JSON.parse(out) as { data: [[string, string], string, [string, [string, string][]]][] };
  return j.data.map(([uuid, name, ids]) => ({ uuid: uuid[1], name, ids: Object.fromEntries(ids[1]) }));
}

/** The OVS Interface row of a Docker endpoint (by external_ids:ocn-endpoint). */
export async function ifaceOfEndpoint(endpointId: string): Promise<{ name: string; uuid: string; ids: ExtIds } | undefined> {
  const rows = await ovsFind('Interface', `external_ids:ocn-endpoint=${endpointId}`);
  assert.ok(rows.length <= 1, `one Interface per endpoint: ${JSON.stringify(rows)}`);
  return rows[0];
}

export async function portUuid(name: string): Promise<string | undefined> {
  const r = await vsctlRun('--if-exists', 'get', 'Port', name, '_uuid');
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

export function linkExists(name: string): boolean {
  return fs.existsSync(`/sys/class/net/${name}`);
}

export function ifindex(name: string): number {
  return Number(fs.readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
}

export async function waitLinkGone(name: string, ms = 10_000): Promise<void> {
  await waitFor(() => !linkExists(name), { timeoutMs: ms, what: `link ${name} to disappear` });
}

export async function waitPortGone(name: string, ms = 10_000): Promise<void> {
  await waitFor(async () => (await portUuid(name)) === undefined, { timeoutMs: ms, what: `OVS port ${name} to disappear` });
}

/** The `ocn.<name>.` records the plugin keeps in the Open_vSwitch row's external_ids. */
export async function kvKeys(P: string): Promise<string[]> {
  const out = await vsctl('--format=json', '--columns=external_ids', 'list', 'Open_vSwitch', '.');
  const j = JSON.parse(out) as { data: [[string, [string, string][]]][] };
  return j.data[0][0][1].map(([k]) => k).filter((k) => k.startsWith(`ocn.${P}.`));
}

/** iptables-save lines (one table) of this plugin's chains. */
export async function ruleLinesOf(P: string, table: 'nat' | 'filter'): Promise<string[]> {
  const c = chainNames(P);
  const r = await run('iptables-save', ['-t', table]);
  return r.stdout.split('\n').filter((l) => l.startsWith(`-A ${c.post} `) || l.startsWith(`-A ${c.dnat} `) || l.startsWith(`-A ${c.fwd} `));
}

/**
 * Removes this plugin's chains from iptables AND ip6tables (the harness's purgeChains only knows
 * iptables; the plugin fills ip6tables too as soon as a network has an IPv6 gateway).
 */
export async function purgeOurChains(P: string): Promise<string[]> {
  const prefix = chainNames(P).post.slice(0, 11); // OCN-<6hex>-
  const removed = (await purgeChains(new RegExp(`^${prefix}`))).map((c) => `v4 ${c}`);
  for (const table of ['filter', 'nat', 'mangle', 'raw']) {
    const save = (await run('ip6tables-save', ['-t', table])).stdout.split('\n');
    const chains = save.filter((l) => l.startsWith(`:${prefix}`)).map((l) => l.slice(1).split(' ')[0]);
    if (!chains.length) continue;
    for (const l of save) {
      const m = /^-A (\S+) (.*)$/.exec(l);
      if (!m || chains.includes(m[1]) || !chains.some((c) => l.includes(`-j ${c}`))) continue;
      // The jump lines we write have no quoted arguments: plain splitting is exact.
      await run('ip6tables', ['-w', '-t', table, '-D', m[1], ...m[2].split(' ')]);
    }
    for (const c of chains) await run('ip6tables', ['-w', '-t', table, '-F', c]);
    for (const c of chains) if ((await run('ip6tables', ['-w', '-t', table, '-X', c])).code === 0) removed.push(`v6 ${table}/${c}`);
  }
  return removed;
}

/** ip6tables-save lines (one table) of this plugin's chains, jumps into them included. */
export async function ip6RuleLinesOf(P: string, table: 'nat' | 'filter'): Promise<string[]> {
  const prefix = chainNames(P).post.slice(0, 11);
  const r = await run('ip6tables-save', ['-t', table]);
  return r.stdout.split('\n').filter((l) => l.startsWith('-A ') && l.includes(prefix));
}

/**
 * Every kernel link name this plugin instance could have created, from its own request log:
 * ocnh/ocnc + the first 11 hex of each EndpointID, ocng + 11 of each NetworkID, the warm pool's
 * ports (logged as they are made). Robust against
 * other tests' links on a shared machine, and complete: every create is logged with its ids.
 */
export function linkNamesOf(p: Plugin): Set<string> {
  const names = new Set<string>();
  for (const r of p.logRecords()) {
    if (typeof r.EndpointID === 'string' && /^[0-9a-f]{11}/.test(r.EndpointID)) {
      names.add(`ocnh${r.EndpointID.slice(0, 11)}`);
      names.add(`ocnc${r.EndpointID.slice(0, 11)}`);
    }
    if (typeof r.NetworkID === 'string' && /^[0-9a-f]{11}/.test(r.NetworkID)) names.add(`ocng${r.NetworkID.slice(0, 11)}`);
    // Warm pooled ports, whatever endpoint took them later.
    if (r.msg === 'pooled ports added' && Array.isArray(r.ports)) {
      for (const n of r.ports) if (typeof n === 'string') names.add(n).add(`ocnc${n.slice(4)}`);
    }
  }
  return names;
}

/** Names of the plugin's ocn* links still present (in the root namespace). */
export async function ourLinksLeft(p: Plugin): Promise<string[]> {
  const names = linkNamesOf(p);
  const r = await run('ip', ['-o', 'link', 'show']);
  return r.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n && /^ocn[hcg]/.test(n) && names.has(n));
}

// ---------------------------------------------------------------- teardown

/** Every container of this engine, removed with SIGKILL (no stop timeout). */
export async function removeAllContainers(env: Env): Promise<void> {
  const ids = (await docker(env, ['ps', '-aq'])).stdout.split(/\s+/).filter(Boolean);
  if (ids.length) await dockerOk(env, ['rm', '-f', ...ids]);
}

/** Every network of our driver on this engine. */
export async function removeAllNetworks(env: Env): Promise<void> {
  const ids = (await docker(env, ['network', 'ls', '-q', '--filter', `driver=${env.P}`])).stdout.split(/\s+/).filter(Boolean);
  for (const id of ids) await dockerOk(env, ['network', 'rm', id]);
}

/**
 * Scenario 13 as assertions: after `docker rm -f` of everything and `docker network rm` of every
 * network, nothing the plugin owned is left (OVS rows, veths and gateway ports, records, bridges).
 */
export async function assertTeardownClean(env: Env): Promise<void> {
  await removeAllContainers(env);
  await removeAllNetworks(env);
  assert.equal((await docker(env, ['network', 'ls', '-q', '--filter', `driver=${env.P}`])).stdout.trim(), '', 'no network of ours left in docker');
  // Veth deletions run just after the DeleteEndpoint answer: give them a moment.
  await waitFor(async () => (await ourLinksLeft(env.p)).length === 0, { timeoutMs: 15_000, what: 'the plugin\'s links to go' }).catch(() => undefined);
  for (const table of ['Interface', 'Port', 'Bridge']) {
    assert.equal(await vsctl('--bare', '--columns=name', 'find', table, `external_ids:ocn-owner=${env.P}`), '', `no ${table} rows owned by ${env.P}`);
  }
  assert.deepEqual(await ourLinksLeft(env.p), [], 'no ocnh*/ocnc*/ocng* links of ours left');
  assert.ok(linkNamesOf(env.p).size > 0, 'sanity: the request log named the links we look for');
  assert.deepEqual(await kvKeys(env.P), [], `no ocn.${env.P}.* records left in Open_vSwitch external_ids`);
  for (const b of env.bridges) assert.equal((await vsctlRun('br-exists', b)).code, 2, `bridge ${b} is gone`);
  for (const table of ['nat', 'filter'] as const) {
    assert.deepEqual(await ruleLinesOf(env.P, table), [], `no ${table} rules left in our chains`);
    // Our chains stay (with their jumps) by design; what is inside them must be gone.
    const inside = (await ip6RuleLinesOf(env.P, table)).filter((l) => l.startsWith(`-A ${chainNames(env.P).post.slice(0, 11)}`));
    assert.deepEqual(inside, [], `no ip6tables ${table} rules left in our chains`);
  }
}

/**
 * Always runs (after hook): removes whatever a failed test left, in an order that never makes
 * dockerd wait 15 s for a dead plugin. Never throws; returns what it had to clean by force.
 */
export async function cleanup(env: Env | undefined, extra: () => Promise<void> = async () => undefined): Promise<string[]> {
  const { forced, step } = forcedSteps();
  await step('extra', extra);
  if (!env) return forced;
  const { d, p, P } = env;
  if (d.alive()) {
    if (!p.alive()) await step('plugin restart', () => p.restart());
    if (p.alive()) {
      await step('containers', () => removeAllContainers(env));
      await step('networks', () => removeAllNetworks(env));
    }
  }
  await step('dockerd', () => d.cleanup());
  await step('plugin stop', () => p.stop());
  // What the plugin still owned: ports of containers dockerd killed without telling it, bridges.
  await step('ovs ports', async () => {
    for (const r of await ovsFind('Interface', `external_ids:ocn-owner=${P}`)) {
      await vsctlRun('--if-exists', 'del-port', r.name);
      forced.push(`port ${r.name}`);
    }
  });
  for (const b of env.bridges) {
    await step(`bridge ${b}`, async () => {
      if ((await vsctlRun('br-exists', b)).code === 0) {
        forced.push(`bridge ${b}`);
        await vsctl('--if-exists', 'del-br', b);
      }
    });
  }
  await step('ovs records', async () => {
    for (const k of await kvKeys(P)) {
      forced.push(`record ${k}`);
      await vsctl('remove', 'Open_vSwitch', '.', 'external_ids', k);
    }
  });
  await step('links', async () => {
    for (const n of linkNamesOf(p)) if (linkExists(n)) await run('ip', ['link', 'del', n]);
  });
  // The plugin leaves its chains on purpose (running containers keep NAT): tests remove them.
  await step('chains', () => purgeOurChains(P));
  if (forced.length) note(`cleanup had to remove: ${forced.join('; ')}`);
  return forced;
}
