// Docker Swarm end to end: three dockerd 20.10 nodes on one machine (each its own network and
// mount namespace, data-root, exec-root, socket and pid file; test/lab), joined in one swarm,
// the managed (v2) plugin enabled on each, OVN wiring the hosts. The two ways a swarm user
// creates networks on a plugin:
//
//  1. local scope (default OCN_SCOPE=local), as with macvlan: a --config-only network on every
//     node carries IPAM + options, the swarm network takes them with --config-from; each node
//     allocates from its own plugin IPAM, which reserves the addresses in the OVN NB database.
//  2. global scope (OCN_SCOPE=global): the manager's plugin allocates (global address space),
//     AllocateNetwork's answer becomes every node's CreateNetwork options, and each node asks for
//     the same pool again in the local space.
//
// For each: `docker service create --replicas 4` places tasks on every node, tasks reach each
// other across nodes by IP (and `tasks.<service>` and `<service>` resolve to them), an attachable
// container joins, scaling down and `docker service rm` leave no OVS port, logical switch port,
// address reservation or IPAM record behind, and removing the network removes the logical switch.
// Then what goes wrong in global scope: bad options (AllocateNetwork refuses them) and Docker's
// default IPAM on an ovn.switch network (every node refuses it; the fix shows in service ps).
//
//   npx tsc -p tsconfig.json && node --test --test-concurrency=1 --test-timeout=600000 dist/test/swarm/
//   OCN_SWARM_PLUGIN_DIR=<dir with config.json + rootfs/> skips plugin/build.sh;
//   OCN_SWARM_CHASSIS=cli lets the host CLI (not the plugin) set the chassis up.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../harness/exec';
import {
  IMAGE, PLUGIN, SwarmCluster, logSize, nbSwitch, nbSwitchPorts, nbSwitches, note, ownedInterfaces, pluginLog,
  portBindings, recordSummary, sec, startSwarmCluster, timed,
} from './cluster';

const REPLICAS = 4;
const SUBNET_CFG = '10.61.1.0/24';
const SUBNET_GLOBAL = '10.61.2.0/24';
const inSubnet = (ip: string, subnet: string) => ip.startsWith(subnet.replace(/\.0\/24$/, '.'));
const gatewayOf = (subnet: string) => subnet.replace(/\.0\/24$/, '.1');

/** Retries an async check until it passes (assertion errors included); the last failure is thrown. */
async function eventually(check: () => Promise<void>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() >= deadline) throw e;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

interface Task {
  node: string;
  container: string;
  name: string;
  ip: string;
}

describe('swarm: 3 dockerd nodes, the managed plugin on each, OVN between the hosts', () => {
  let c: SwarmCluster;
  const timings: Record<string, string> = {};
  const logFrom = new Map<string, number>();

  before(async () => {
    c = await startSwarmCluster({ nodes: 3 });
    const t = c.timings;
    note(`lab ${c.lab.id}: lab (3 hosts, OVS, OVN central) ${sec(t.labMs)}; 3 dockerds + image ${sec(t.dockerdMs)}; ` +
      `plugin rootfs ${sec(t.pluginBuildMs)} (in parallel); plugin create+set+enable x3 ${sec(t.pluginInstallMs)}; ` +
      `chassis + tunnels ${sec(t.chassisMs)}; swarm init+join ${sec(t.swarmMs)}; total ${sec(t.totalMs)}`);
    timings.lab = sec(t.labMs);
    timings.swarmUp = sec(t.totalMs);
    for (const n of c.nodes) logFrom.set(n.name, logSize(n));
  });

  after(async () => {
    await c?.destroy();
    note(`timings: ${JSON.stringify(timings)}`);
  });

  it('swarm of 3 nodes, each with the plugin enabled, its chassis in the SB and tunnels to the others', async () => {
    const m = c.manager;
    const nodes = (await m.dockerOk(['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'])).split('\n').map((l) => l.trimEnd()).sort();
    assert.deepEqual(nodes, ['h1 Ready Leader', 'h2 Ready', 'h3 Ready'], 'docker node ls');
    for (const n of c.nodes) {
      assert.equal(await n.dockerOk(['plugin', 'inspect', '-f', '{{.Enabled}}', PLUGIN]), 'true', `${n.name}: plugin enabled`);
      assert.equal(await n.dockerOk(['info', '-f', '{{.Swarm.LocalNodeState}} {{.Swarm.NodeAddr}}']), `active ${n.host.ip}`);
      assert.equal(await n.host.systemId(), n.name, `${n.name}: system-id`);
    }
    const chassis = (await c.lab.sbctl('--bare', '--columns=name', 'list', 'Chassis')).split(/\s+/).filter(Boolean).sort();
    assert.deepEqual(chassis, ['h1', 'h2', 'h3']);
  });

  it('local scope, --config-from: tasks on every node reach each other; scale down and rm leave nothing', async () => {
    const m = c.manager;
    // as with macvlan: the config on every node, the swarm network on the manager
    await Promise.all(c.nodes.map((n) =>
      n.dockerOk(['network', 'create', '--config-only', '--ipam-driver', PLUGIN, '--subnet', SUBNET_CFG, '-o', 'ovn.switch=swarm-cfg', 'cfgnet'])));
    await m.dockerOk(['network', 'create', '-d', PLUGIN, '--scope', 'swarm', '--config-from', 'cfgnet', '--attachable', 'swnet']);
    const inspect = JSON.parse(await m.dockerOk(['network', 'inspect', 'swnet', '-f', '{{json .}}'])) as { Scope: string; ConfigFrom: { Network: string }; Driver: string };
    assert.equal(inspect.Scope, 'swarm');
    assert.equal(inspect.ConfigFrom.Network, 'cfgnet');
    assert.equal(inspect.Driver, PLUGIN);

    const ms = await exerciseService(c, { svc: 'websvc', net: 'swnet', subnet: SUBNET_CFG, sw: 'swarm-cfg', attachOn: 'h2' }, timings, 'cfg');
    note(`config-from: ${JSON.stringify(ms)}`);

    // the network is gone from every node with its last task: records, switch and its reservations
    assert.equal(await nbSwitch(c.lab, 'swarm-cfg'), undefined, 'logical switch swarm-cfg removed with the last node\'s network');
    await m.dockerOk(['network', 'rm', 'swnet']);
    await Promise.all(c.nodes.map((n) => n.dockerOk(['network', 'rm', 'cfgnet'])));
    assertNoRequestErrors(c, logFrom);
  });

  it('global scope (OCN_SCOPE=global): AllocateNetwork options reach every node, the pool is requested twice, nothing is left', async () => {
    const m = c.manager;
    const [, reMs] = await timed(() => c.reconfigurePlugin(['OCN_SCOPE=global']));
    const advMs = await c.waitPluginAdvertised();
    note(`plugin disable + set OCN_SCOPE=global + enable on 3 nodes ${sec(reMs)}; the manager's view of every node listed it again ${sec(advMs)} later`);
    timings.rescope = sec(reMs + advMs);
    for (const n of c.nodes) {
      const env = JSON.parse(await n.dockerOk(['plugin', 'inspect', '-f', '{{json .Settings.Env}}', PLUGIN])) as string[];
      assert.ok(env.includes('OCN_SCOPE=global'), `${n.name}: ${env}`);
      logFrom.set(n.name, logSize(n));
    }

    await m.dockerOk(['network', 'create', '-d', PLUGIN, '--ipam-driver', PLUGIN, '--scope', 'swarm', '--subnet', SUBNET_GLOBAL, '-o', 'ovn.switch=swarm-global', '--attachable', 'gnet']);
    const inspect = JSON.parse(await m.dockerOk(['network', 'inspect', 'gnet', '-f', '{{json .}}'])) as { Scope: string; Options: Record<string, string>; IPAM: { Config: { Subnet: string; Gateway: string }[] } };
    assert.equal(inspect.Scope, 'swarm');
    assert.deepEqual(inspect.Options, { 'ovn.switch': 'swarm-global' }, 'AllocateNetwork echoed the options: they are the network\'s driver options');
    assert.deepEqual(inspect.IPAM.Config.map((x) => x.Subnet), [SUBNET_GLOBAL]);
    // the manager allocates the pool and gateway in the global space (swarm's allocator runs
    // right after `network create` returned), before any task
    await eventually(async () => {
      const mgr = await recordSummary(m.host);
      assert.deepEqual(mgr, [`addr:ocn-global/${SUBNET_GLOBAL}|${gatewayOf(SUBNET_GLOBAL)}=gw`, `pool:ocn-global/${SUBNET_GLOBAL}`], 'manager records');
    }, 10_000);

    const ms = await exerciseService(c, { svc: 'gsvc', net: 'gnet', subnet: SUBNET_GLOBAL, sw: 'swarm-global', attachOn: 'h3', dnsrr: true, global: true }, timings, 'global', async (tasks) => {
      // every node got ovn.switch in CreateNetwork (the AllocateNetwork answer) and bound the switch
      const ls = await nbSwitch(c.lab, 'swarm-global');
      assert.ok(ls, 'switch swarm-global exists');
      const refs = [...ls.externalIds.keys()].filter((k) => k.startsWith('ocn-ref-')).map((k) => k.split('-')[2]).sort();
      assert.deepEqual(refs, ['h1', 'h2', 'h3'], `every node's network references the switch: ${[...ls.externalIds.keys()]}`);
      for (const n of c.nodes.slice(1)) {
        const opts = JSON.parse(await n.dockerOk(['network', 'inspect', 'gnet', '-f', '{{json .Options}}'])) as Record<string, string>;
        assert.equal(opts['ovn.switch'], 'swarm-global', `${n.name} sees the network's options`);
      }
      // the manager (which runs a task too) holds the pool in both spaces: requested twice, no failure
      assert.ok(tasks.some((t) => t.node === 'h1'));
      const rec = await recordSummary(m.host);
      assert.ok(rec.includes(`pool:ocn-global/${SUBNET_GLOBAL}`) && rec.includes(`pool:ocn-local/${SUBNET_GLOBAL}`), `h1 records: ${rec}`);
      const pools = pluginLog(m, logFrom.get('h1')).filter((r) => r.method === 'IpamDriver.RequestPool');
      assert.ok(pools.length >= 2 && pools.every((r) => r.outcome === 'ok'), `RequestPool on h1: ${JSON.stringify(pools)}`);
    });
    note(`global: ${JSON.stringify(ms)}`);

    await m.dockerOk(['network', 'rm', 'gnet']);
    await waitFor(async () => (await recordSummary(m.host)).length === 0, { timeoutMs: 10_000, what: 'the global pool released on network rm' });
    assert.equal(await nbSwitch(c.lab, 'swarm-global'), undefined, 'logical switch swarm-global removed');
    assertNoRequestErrors(c, logFrom);
  });

  it('global scope, what goes wrong: bad options fail AllocateNetwork, Docker\'s default IPAM is refused with the fix', async () => {
    const m = c.manager;
    const from = logSize(m);
    // swarm allocates after `network create` returned: the refusal shows in the manager's log only,
    // and the network stays without driver state (no task can use it)
    await m.dockerOk(['network', 'create', '-d', PLUGIN, '--ipam-driver', PLUGIN, '--scope', 'swarm', '--subnet', '10.61.3.0/24', '-o', 'ovn.switch=swarm-bad', '-o', 'vlan=7', 'badnet']);
    const refused = await waitFor(() => pluginLog(m, from).find((r) => r.method === 'NetworkDriver.AllocateNetwork' && r.msg === 'request failed'),
      { timeoutMs: 15_000, what: 'AllocateNetwork to refuse vlan + ovn.switch' });
    assert.match(String(refused.err), /options vlan and ovn\.switch conflict/);
    assert.equal(await m.dockerOk(['network', 'inspect', '-f', '{{.Driver}}', 'badnet']), '', 'no driver state for the refused network');
    await m.dockerOk(['network', 'rm', 'badnet']);

    // default IPAM + ovn.switch: every node refuses CreateNetwork; the reason reaches `docker service ps`
    await m.dockerOk(['network', 'create', '-d', PLUGIN, '--scope', 'swarm', '--subnet', '10.61.4.0/24', '-o', 'ovn.switch=swarm-dflt', 'dfltnet']);
    await m.dockerOk(['service', 'create', '--detach', '--quiet', '--name', 'dfltsvc', '--init', '--endpoint-mode', 'dnsrr', '--replicas', '1', '--network', 'dfltnet', IMAGE, 'sleep', '1d']);
    const err = await waitFor(async () => {
      const ps = await m.dockerOk(['service', 'ps', '--no-trunc', 'dfltsvc', '--format', '{{.CurrentState}}|{{.Error}}']);
      return ps.split('\n').find((l) => l.startsWith('Rejected'));
    }, { timeoutMs: 30_000, intervalMs: 500, what: 'a rejected task of dfltsvc' });
    assert.match(err, /ovn\.switch networks span hosts: create them with --ipam-driver ovs-container-network/);
    await m.dockerOk(['service', 'rm', 'dfltsvc']);
    await m.dockerOk(['network', 'rm', 'dfltnet']);
    await eventually(async () => {
      assert.deepEqual(await allOwnedInterfaces(c, 'any'), []);
      for (const n of c.nodes) assert.deepEqual(await recordSummary(n.host), [], `${n.name}: records`);
      assert.deepEqual((await nbSwitches(c.lab)).map((s) => s.name), [], 'no logical switch left');
    }, 20_000);
  });

  it('tears down with nothing left (lab namespaces, processes, plugin cgroups, state)', async () => {
    // nothing the plugin owns is left in OVN either
    const left = (await nbSwitches(c.lab)).filter((s) => s.externalIds.has('ocn-owner'));
    assert.deepEqual(left.map((s) => s.name), []);
    const fp = await c.footprint();
    const [, ms] = await timed(() => c.destroy());
    timings.teardown = sec(ms);
    note(`teardown (plugins disabled, dockerds stopped, lab down) ${sec(ms)}`);
    assert.deepEqual(await c.leftovers(fp), []);
  });
});

// ------------------------------------------------------------------ one service on one network

interface ServiceCase {
  svc: string;
  net: string;
  subnet: string;
  /** ovn.switch of the network. */
  sw: string;
  /** Node for an extra `docker run --network <net>` container. */
  attachOn: string;
  dnsrr?: boolean;
  /** The plugin runs with OCN_SCOPE=global (the manager allocates in the global space). */
  global?: boolean;
}

/**
 * create (4 replicas) -> converged on every node -> addresses, ports, logical ports, bindings and
 * reservations agree -> ping mesh -> tasks.<svc> -> attachable container -> scale to 1 -> rm.
 * `extra` runs while the 4 tasks are up. Returns the timings.
 */
async function exerciseService(c: SwarmCluster, k: ServiceCase, timings: Record<string, string>, label: string, extra?: (tasks: Task[]) => Promise<void>): Promise<Record<string, string>> {
  const m = c.manager;
  const out: Record<string, string> = {};
  const t0 = Date.now();
  await m.dockerOk(['service', 'create', '--detach', '--quiet', '--name', k.svc, '--init', '--stop-grace-period', '2s',
    ...(k.dnsrr ? ['--endpoint-mode', 'dnsrr'] : []), '--replicas', String(REPLICAS), '--network', k.net, IMAGE, 'sleep', '1d']);
  let tasks = await converge(c, k, REPLICAS);
  out.converge = timings[`${label}Converge`] = sec(Date.now() - t0);
  note(`${k.svc}: ${REPLICAS} tasks running in ${out.converge}: ${tasks.map((t) => `${t.node}=${t.ip}`).join(' ')}`);

  assert.deepEqual([...new Set(tasks.map((t) => t.node))].sort(), ['h1', 'h2', 'h3'], 'tasks on every node');
  assert.equal(new Set(tasks.map((t) => t.ip)).size, REPLICAS, `distinct addresses: ${tasks.map((t) => t.ip)}`);
  for (const t of tasks) assert.ok(inSubnet(t.ip, k.subnet), `${t.ip} in ${k.subnet}`);
  await eventually(() => checkWiring(c, k, tasks), 20_000);

  // across nodes by IP: every task pings every other one
  const t1 = Date.now();
  await pingMesh(c, tasks, tasks.map((t) => t.ip));
  out.pingMesh = sec(Date.now() - t1);

  // swarm service discovery on the plugin's network: tasks.<svc>, and <svc> itself (no VIP: a
  // node-local network gets none, and the global case runs with --endpoint-mode dnsrr)
  const want = tasks.map((t) => t.ip).sort();
  for (const name of [`tasks.${k.svc}`, k.svc]) {
    const got = await waitFor(async () => {
      const ips = await lookup(c, tasks[0], name);
      return ips.length === REPLICAS ? ips : undefined;
    }, { timeoutMs: 20_000, intervalMs: 500, what: `${name} to resolve to the ${REPLICAS} task addresses` });
    assert.deepEqual(got, want, name);
  }

  if (extra) await extra(tasks);

  // an attachable container on a node joins the same L2 domain
  const at = c.node(k.attachOn);
  const attName = `att-${k.svc}`;
  await at.dockerOk(['run', '-d', '--init', '--name', attName, '--network', k.net, IMAGE, 'sleep', '1d']);
  const attIp = (await at.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${k.net}").IPAddress}}`, attName])).trim();
  assert.ok(inSubnet(attIp, k.subnet) && !tasks.some((t) => t.ip === attIp), `attachable container got a fresh address: ${attIp}`);
  await pingMesh(c, [{ node: at.name, container: attName, name: attName, ip: attIp }], tasks.filter((t) => t.node !== at.name).map((t) => t.ip));
  await at.dockerOk(['rm', '-f', attName]);
  await waitFor(async () => (await nbSwitchPorts(c.lab, k.sw)).every((p) => !p.addresses.some((a) => a.endsWith(` ${attIp}`))),
    { timeoutMs: 15_000, what: `the attachable container's logical port (${attIp}) to go` });

  // scale down: the removed tasks' ports, logical ports, reservations and records go
  const t2 = Date.now();
  await m.dockerOk(['service', 'scale', '--detach', `${k.svc}=1`]);
  tasks = await converge(c, k, 1);
  await waitFor(async () => (await allOwnedInterfaces(c)).length === 1 ? true : undefined, { timeoutMs: 30_000, what: 'one plugin port left in the whole swarm' });
  await waitFor(async () => (await nbSwitchPorts(c.lab, k.sw)).length === 1, { timeoutMs: 15_000, what: 'one logical switch port left' });
  await eventually(async () => {
    await checkWiring(c, k, tasks);
    for (const n of c.nodes) {
      if (n.name === tasks[0].node) continue;
      const rec = (await recordSummary(n.host)).filter((r) => r.includes('ocn-local') || r.startsWith('net:'));
      assert.deepEqual(rec, [], `${n.name} (no task left) dropped its network and its local pool`);
    }
    if (k.global) {
      // the manager's global space holds the gateway and the one remaining task only
      const g = (await recordSummary(m.host)).filter((r) => r.startsWith('addr:ocn-global/'));
      assert.deepEqual(g.sort(), [`addr:ocn-global/${k.subnet}|${gatewayOf(k.subnet)}=gw`, `addr:ocn-global/${k.subnet}|${tasks[0].ip}=ep`].sort(), `manager's global allocations: ${g}`);
    }
  }, 30_000);
  out.scaleDown = timings[`${label}ScaleDown`] = sec(Date.now() - t2);

  // service rm: nothing of the tasks is left on any node or in OVN
  const t3 = Date.now();
  await m.dockerOk(['service', 'rm', k.svc]);
  await waitFor(async () => (await allOwnedInterfaces(c)).length === 0 ? true : undefined, { timeoutMs: 30_000, what: 'no plugin port left on any node' });
  await waitFor(async () => (await nbSwitchPorts(c.lab, k.sw)).length === 0, { timeoutMs: 15_000, what: 'no logical switch port left' });
  await waitFor(async () => {
    for (const n of c.nodes) if ((await recordSummary(n.host)).some((r) => r.includes('ocn-local') || r.startsWith('net:'))) return false;
    return true;
  }, { timeoutMs: 30_000, what: 'every node to drop its instance of the network (local pools, network records)' });
  await eventually(async () => {
    const ls = await nbSwitch(c.lab, k.sw);
    const held = ls ? [...ls.externalIds.keys()].filter((x) => x.startsWith('ocn-ip-')) : [];
    assert.deepEqual(held, [], `no address reservation left on ${k.sw}`);
    if (k.global) {
      // the nodes dropped their instance of the network; the manager keeps the global pool + gateway
      assert.deepEqual(await recordSummary(m.host), [`addr:ocn-global/${k.subnet}|${gatewayOf(k.subnet)}=gw`, `pool:ocn-global/${k.subnet}`],
        'the manager keeps only the global pool and its gateway while the network exists');
    }
    for (const n of c.nodes.slice(k.global ? 1 : 0)) assert.deepEqual(await recordSummary(n.host), [], `${n.name}: no IPAM/network record left after service rm`);
  }, 30_000);
  out.rm = timings[`${label}Rm`] = sec(Date.now() - t3);
  return out;
}

/** Waits until exactly `n` tasks run (swarm's view and the nodes' containers agree); returns them. */
async function converge(c: SwarmCluster, k: ServiceCase, n: number): Promise<Task[]> {
  try {
    return await waitFor(async () => {
      const ps = (await c.manager.dockerOk(['service', 'ps', k.svc, '--filter', 'desired-state=running', '--format', '{{.Node}}|{{.CurrentState}}'])).split('\n').filter(Boolean);
      if (ps.length !== n || !ps.every((l) => l.split('|')[1].startsWith('Running'))) return undefined;
      const tasks = await listTasks(c, k);
      return tasks.length === n && tasks.every((t) => t.ip) ? tasks : undefined;
    }, { timeoutMs: 90_000, intervalMs: 300, what: `${n} running task(s) of ${k.svc}` });
  } catch (e) {
    const ps = await c.manager.docker(['service', 'ps', '--no-trunc', k.svc]);
    throw new Error(`${(e as Error).message}\n${ps.stdout}${ps.stderr}`);
  }
}

async function listTasks(c: SwarmCluster, k: ServiceCase): Promise<Task[]> {
  const per = await Promise.all(c.nodes.map(async (node) => {
    const ids = (await node.dockerOk(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${k.svc}`])).split(/\s+/).filter(Boolean);
    if (!ids.length) return [];
    const out = await node.dockerOk(['inspect', '-f', `{{.Id}} {{.Name}} {{with index .NetworkSettings.Networks "${k.net}"}}{{.IPAddress}}{{end}}`, ...ids]);
    return out.split('\n').filter(Boolean).map((l) => {
      const [id, name, ip] = l.split(' ');
      return { node: node.name, container: id, name: name.replace(/^\//, ''), ip: ip ?? '' };
    });
  }));
  return per.flat();
}

/** A name through Docker's embedded DNS, from inside a task: the sorted IPv4 answers. */
async function lookup(c: SwarmCluster, from: Task, name: string): Promise<string[]> {
  const r = await c.node(from.node).docker(['exec', from.container, 'nslookup', name, '127.0.0.11'], 20_000);
  const answers = r.stdout.split(/Non-authoritative answer:|Name:\s/).slice(1).join(' ');
  return [...answers.matchAll(/Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)(?!:)/g)].map((x) => x[1]).filter((ip) => ip !== '127.0.0.11').sort();
}

async function allOwnedInterfaces(c: SwarmCluster, type: 'endpoint' | 'any' = 'endpoint'): Promise<string[]> {
  return (await Promise.all(c.nodes.map(async (n) => (await ownedInterfaces(n.host, type)).map((i) => `${n.name}:${i}`)))).flat();
}

/**
 * Per node: one plugin-owned OVS interface per task, bound (iface-id) to a logical port of the
 * switch whose address is the task's, that the SB binds on that node's chassis; the switch's
 * address book holds exactly the tasks' addresses, each reserved by the task's node.
 */
async function checkWiring(c: SwarmCluster, k: ServiceCase, tasks: Task[]): Promise<void> {
  const lsps = await nbSwitchPorts(c.lab, k.sw);
  const byIp = new Map(lsps.map((p) => [p.addresses.join(' ').split(' ')[1] ?? '', p]));
  assert.deepEqual([...byIp.keys()].sort(), tasks.map((t) => t.ip).sort(), `logical ports of ${k.sw} = the tasks' addresses`);
  const bindings = await waitFor(async () => {
    const b = await portBindings(c.lab);
    return lsps.every((p) => b.has(p.name)) ? b : undefined;
  }, { timeoutMs: 15_000, what: 'every logical port bound to a chassis' });
  for (const t of tasks) {
    const lsp = byIp.get(t.ip)!;
    assert.equal(bindings.get(lsp.name), t.node, `${t.name} (${t.ip}) is bound on ${t.node}'s chassis`);
    assert.equal(lsp.externalIds.get('ocn-host'), t.node);
  }
  for (const n of c.nodes) {
    const mine = tasks.filter((t) => t.node === n.name);
    const ifs = await ownedInterfaces(n.host);
    assert.equal(ifs.length, mine.length, `${n.name}: ${mine.length} plugin port(s), found ${ifs}`);
    for (const i of ifs) {
      const id = (await n.host.vsctl('get', 'Interface', i, 'external_ids:iface-id')).replace(/"/g, '');
      assert.ok(lsps.some((p) => p.name === id), `${n.name}:${i} iface-id ${id} is a port of ${k.sw}`);
    }
  }
  const ls = await nbSwitch(c.lab, k.sw);
  assert.ok(ls, `switch ${k.sw}`);
  const eps = [...ls.externalIds].filter(([key, v]) => key.startsWith('ocn-ip-') && v.startsWith('ep/'));
  assert.deepEqual(eps.map(([key]) => key.slice('ocn-ip-'.length)).sort(), tasks.map((t) => t.ip).sort(), `reservations on ${k.sw}`);
  for (const [key, v] of eps) {
    const t = tasks.find((x) => x.ip === key.slice('ocn-ip-'.length))!;
    assert.equal(v.split('/')[1], t.node, `${t.ip} reserved by ${t.node}`);
  }
}

/** From each source task, every target address answers (3 tries each: a first packet may be
 *  lost while OVS userspace learns the tunnel neighbour). */
async function pingMesh(c: SwarmCluster, from: Task[], targets: string[]): Promise<void> {
  const script = 'for ip in "$@"; do ok=; for i in 1 2 3; do if ping -c1 -W2 "$ip" >/dev/null 2>&1; then ok=1; break; fi; done; [ -n "$ok" ] || echo "FAIL $ip"; done; echo done';
  const results = await Promise.all(from.map(async (t) => {
    const dst = targets.filter((ip) => ip !== t.ip);
    const r = await c.node(t.node).docker(['exec', t.container, 'sh', '-c', script, 'sh', ...dst], 90_000);
    return { t, r };
  }));
  const bad = results.filter(({ r }) => r.code !== 0 || r.stdout.includes('FAIL') || !r.stdout.includes('done'));
  assert.deepEqual(bad.map(({ t, r }) => `${t.node}/${t.ip}: ${r.stdout.trim()} ${r.stderr.trim()}`), [], 'every task reaches every other one');
}

/** No plugin request answered with an error since the phase began. */
function assertNoRequestErrors(c: SwarmCluster, from: Map<string, number>): void {
  const bad: string[] = [];
  for (const n of c.nodes) {
    for (const r of pluginLog(n, from.get(n.name))) {
      if (r.msg === 'request' && r.outcome !== 'ok') bad.push(`${n.name}: ${JSON.stringify(r)}`);
    }
  }
  assert.deepEqual(bad, [], 'plugin requests that failed');
}

