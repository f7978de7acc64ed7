// Security groups on a real OVN (two lab hosts, each with its own OVS and ovn-controller):
// src/ovn/port-group.ts plans Port_Group + ACL operations on a live NB cache, commitPlan applies
// them, and real traffic between namespaces bound to logical switch ports on both hosts shows
// what they allow: ports per rule, ICMP per rule, replies, remote groups that follow membership,
// rule changes on a running port, unfiltered ports, ARP and DHCP of a filtered port, deletion.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startLab, type Lab, type LabNs } from '../lab/lab';
import { run } from '../harness/exec';
import { repoRoot } from '../harness/paths';
import { OvsdbClient } from '../../src/ovsdb/client';
import { dbFromClient } from '../../src/daemon';
import type { Db } from '../../src/ovs/db';
import { NB_MONITOR, nbByName } from '../../src/ovn/nb';
import { commitPlan, lostRace } from '../../src/ovn/txn';
import { DROP_PG, deleteGroupOps, findGroup, groupMembers, listGroups, pgName, setMembershipOps, upsertGroupOps } from '../../src/ovn/port-group';
import { type SecurityGroup, parseGroup } from '../../src/secgroups/model';

const SWITCH = 'sgsw';
let lab: Lab;
let client: OvsdbClient;
let nb: Db;
const servers: ChildProcess[] = [];
/** Namespaces ("containers") by role: srv (h1) is the filtered server, cli (h2) a client group member, out (h2) and free (h1) start unfiltered. */
const ns: Record<string, LabNs & { ip: string; mac: string; lsp: string }> = {};
/** Group keys each port is in now (what the endpoint records would say). */
const memberOf: Record<string, string[]> = {};

const web = (ingressPort: string): SecurityGroup => parseGroup({
  name: 'web', tenant: 't1',
  ingress: [{ protocol: 'tcp', ports: ingressPort }, { protocol: 'icmp', remote: { group: 'client' } }],
  egress: [{ protocol: 'tcp', ports: '7000', remote: '10.77.0.0/24' }],
});
const clientGroup = parseGroup({ name: 'client', tenant: 't1', egress: [{ protocol: 'all' }] });

before(async () => {
  lab = await startLab({ hosts: 2, ovn: true });
  await lab.nbctl('ls-add', SWITCH);
  const spec = [['srv', 1, 10], ['cli', 2, 20], ['out', 2, 30], ['free', 1, 40]] as const;
  for (const [name, host, n] of spec) {
    const ip = `10.77.0.${n}`;
    const mac = `0a:58:0a:4d:00:${n.toString(16).padStart(2, '0')}`;
    const lsp = `sg-${name}`;
    await lab.nbctl('lsp-add', SWITCH, lsp, '--', 'lsp-set-addresses', lsp, `${mac} ${ip}`, '--', 'lsp-set-port-security', lsp, `${mac} ${ip}`);
    ns[name] = Object.assign(await lab.addNs(name, host, { cidr: `${ip}/24`, mac, ifaceId: lsp }), { ip, mac, lsp });
    memberOf[name] = [];
  }
  for (const { lsp } of Object.values(ns)) await lab.nbctl('--timeout=30', 'wait-until', 'Logical_Switch_Port', lsp, 'up=true');
  // Persistent TCP servers answering "ok<port>" (busybox nc -ll: one echo per connection).
  for (const [name, ports] of [['srv', [8080, 9090]], ['out', [7000, 9090]]] as const) {
    for (const port of ports) {
      const p = spawn('ip', ['netns', 'exec', ns[name].ns, 'busybox', 'nc', '-ll', '-p', String(port), '-e', 'echo', `ok${port}`], { stdio: 'ignore' });
      servers.push(p);
    }
  }
  client = new OvsdbClient({ remote: lab.nbUnix, database: 'OVN_Northbound', monitor: NB_MONITOR });
  await client.connect();
  nb = nbDb(client);
  await lab.nbctl('--wait=hv', 'sync');
});

after(async () => {
  for (const p of servers) p.kill('SIGKILL');
  await client?.close();
  await lab?.destroy();
});

const nbDb = (c: OvsdbClient): Db => dbFromClient(c);

/** TCP connect from `from` to `to`:port; true iff the server's answer came back (so the reply passed too). */
async function connects(from: string, to: string, port: number, timeoutS = 1): Promise<boolean> {
  const r = await run('ip', ['netns', 'exec', ns[from].ns, 'busybox', 'nc', '-w', String(timeoutS), ns[to].ip, String(port)], { timeoutMs: (timeoutS + 5) * 1000 });
  return r.stdout.includes(`ok${port}`);
}

async function pings(from: string, to: string): Promise<boolean> {
  const r = await run('ip', ['netns', 'exec', ns[from].ns, 'busybox', 'ping', '-c', '1', '-W', '1', ns[to].ip], { timeoutMs: 10_000 });
  return r.code === 0;
}

async function upsert(g: SecurityGroup): Promise<void> {
  await commitPlan(nb, () => upsertGroupOps(nb, g));
}

async function setGroups(name: string, keys: string[]): Promise<void> {
  const lsp = ns[name].lsp;
  await commitPlan(nb, () => setMembershipOps(nb, nbByName(nb, 'Logical_Switch_Port', lsp)!, keys, memberOf[name]));
  memberOf[name] = keys;
}

const hvSync = () => lab.nbctl('--wait=hv', 'sync');

/**
 * Every logical flow of the switch parses: ovn-trace reads them all and names each it cannot
 * (ovn-controller's own warning about it is rate-limited to about one a second).
 */
async function assertFlowsParse(): Promise<void> {
  const src = ns.free;
  const r = await run('ovn-trace', [`--db=${lab.sbUnix}`, SWITCH, `inport == "${src.lsp}" && eth.src == ${src.mac} && ip4.src == ${src.ip} && ip4.dst == ${ns.out.ip} && ip.ttl == 64`], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stderr.split('\n').filter((l) => /parsing expression failed|error parsing/.test(l)), []);
}

test('without groups every port reaches every other (baseline)', async () => {
  assert.ok(await connects('cli', 'srv', 9090, 3), 'cli -> srv:9090 across hosts');
  assert.ok(await pings('out', 'srv'));
});

test('a group whose remote group is not defined yet: valid OVN, the remote rule matches nobody, the others work', async () => {
  await upsert(web('8080'));
  await setGroups('srv', ['t1/web']);
  await hvSync();
  assert.ok(nbByName(nb, 'Port_Group', pgName('t1/client')), 'an empty placeholder port group for t1/client');
  assert.deepEqual(listGroups(nb).map((g) => g.name), ['web'], 'a placeholder is not a group');
  assert.deepEqual(groupMembers(nb, 't1/web'), ['sg-srv']);
  await assertFlowsParse();
  assert.ok(await connects('cli', 'srv', 8080, 3), 'tcp 8080 from anywhere is allowed');
  assert.ok(!(await connects('cli', 'srv', 9090)), 'tcp 9090 is not');
  assert.ok(!(await pings('cli', 'srv')), 'icmp only from members of t1/client, which has none');
});

test('rules per port and protocol, egress, replies, remote group members, unfiltered ports', async () => {
  await upsert(clientGroup);
  await setGroups('cli', ['t1/client']);
  await hvSync();
  assert.deepEqual(findGroup(nb, 't1/client'), clientGroup, 'the placeholder became the group');
  assert.ok(await connects('cli', 'srv', 8080, 3), 'cli -> srv:8080 (ingress rule)');
  assert.ok(await connects('out', 'srv', 8080, 3), 'out -> srv:8080 (from anywhere)');
  assert.ok(!(await connects('out', 'srv', 9090)), 'out -> srv:9090 dropped');
  assert.ok(await pings('cli', 'srv'), 'icmp from a member of t1/client');
  assert.ok(!(await pings('out', 'srv')), 'icmp from a non-member dropped');
  // srv may open tcp 7000 on the subnet: the answer comes back although no ingress rule allows it.
  assert.ok(await connects('srv', 'out', 7000, 3), 'srv -> out:7000 (egress rule), reply passes');
  assert.ok(!(await connects('srv', 'out', 9090)), 'srv -> out:9090 not allowed by egress');
  assert.ok(!(await pings('srv', 'out')), 'srv may not send icmp');
  // cli may open anything; nobody may open anything on cli (no ingress rule).
  assert.ok(await connects('cli', 'out', 9090, 3), 'cli -> out:9090');
  assert.ok(!(await pings('out', 'cli')), 'out -> cli dropped: t1/client has no ingress rule');
  // Ports in no group are untouched.
  assert.ok(await connects('free', 'out', 9090, 3), 'free -> out:9090 (both unfiltered)');
  assert.ok(await pings('out', 'free'), 'out -> free');
});

test('a remote-group rule follows a port joining and leaving the group, without an ACL rewrite', async () => {
  const acls = await lab.nbctl('--bare', '--columns=acls', 'find', 'Port_Group', `name=${pgName('t1/web')}`);
  await setGroups('out', ['t1/client']);
  await hvSync();
  assert.ok(await pings('out', 'srv'), 'out, now in t1/client, may ping srv');
  await setGroups('out', []);
  await hvSync();
  assert.ok(!(await pings('out', 'srv')), 'out left t1/client: dropped again');
  assert.ok(await pings('free', 'out'), 'out is unfiltered again');
  assert.equal(await lab.nbctl('--bare', '--columns=acls', 'find', 'Port_Group', `name=${pgName('t1/web')}`), acls, 'same ACL rows');
});

test('ARP and DHCP keep working for a filtered port', async () => {
  await run('ip', ['-n', ns.srv.ns, 'neigh', 'flush', 'dev', 'eth0']);
  const arp = await run('ip', ['netns', 'exec', ns.srv.ns, 'busybox', 'arping', '-c', '1', '-w', '3', '-I', 'eth0', ns.cli.ip], { timeoutMs: 10_000 });
  assert.equal(arp.code, 0, `srv resolves cli: ${arp.stdout}${arp.stderr}`);
  const dhcp = await lab.nbctl('create', 'DHCP_Options', 'cidr=10.77.0.0/24', 'options:lease_time=3600', 'options:router=10.77.0.1', 'options:server_id=10.77.0.1', 'options:server_mac=0a:58:0a:4d:00:01');
  await lab.nbctl('lsp-set-dhcpv4-options', ns.srv.lsp, dhcp);
  await hvSync();
  const script = path.join(repoRoot(), 'test', 'multihost', 'udhcpc.sh');
  const r = await run('ip', ['netns', 'exec', ns.srv.ns, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', '4', '-T', '1', '-s', script], { timeoutMs: 30_000 });
  // The hook flushes eth0 first: without a lease the later tests would lose srv's address too.
  await run('ip', ['-n', ns.srv.ns, 'addr', 'replace', `${ns.srv.ip}/24`, 'dev', 'eth0']);
  assert.match(r.stdout, /ip=10\.77\.0\.10 /, `the filtered port got its lease from OVN: ${r.stdout}${r.stderr}`);
});

test("changing a group's rules on a running port takes effect within 1 s", async () => {
  assert.ok(!(await connects('cli', 'srv', 9090)));
  const t0 = Date.now();
  await upsert(web('9090'));
  const committed = Date.now() - t0;
  await hvSync();
  const effective = Date.now() - t0;
  console.log(`# rule change: committed in ${committed} ms, installed on every chassis (nbctl --wait=hv sync) ${effective} ms after the change`);
  assert.ok(await connects('cli', 'srv', 9090, 3), 'tcp 9090 is allowed now');
  assert.ok(!(await connects('cli', 'srv', 8080)), 'tcp 8080 is not any more');
  assert.ok(effective < 1000, `took ${effective} ms`);
});

test('no OVN component refused a match', async () => {
  await assertFlowsParse();
  for (const f of lab.hosts.map((h) => path.join(h.dir, 'ovn-controller.log'))) {
    assert.deepEqual(fs.readFileSync(f, 'utf8').split('\n').filter((l) => /error parsing/.test(l)), [], f);
  }
});

test("deleting the groups removes their port groups and ACLs; the ports are unfiltered again", async () => {
  await setGroups('srv', []);
  await setGroups('cli', []);
  await commitPlan(nb, () => deleteGroupOps(nb, 't1/web'));
  assert.equal(findGroup(nb, 't1/web'), undefined);
  await commitPlan(nb, () => deleteGroupOps(nb, 't1/client'));
  await hvSync();
  assert.equal(await lab.nbctl('--bare', '--columns=name', 'list', 'Port_Group'), '', `no port group left (${DROP_PG} went with the last group)`);
  assert.equal(await lab.nbctl('--bare', '--columns=_uuid', 'list', 'ACL'), '', 'no ACL left');
  assert.ok(await connects('out', 'srv', 9090, 3), 'srv is unfiltered');
  assert.ok(await pings('out', 'cli'), 'cli is unfiltered');
});

test('two hosts defining groups at the same moment: one port group each, one drop group, no duplicate ACL', async () => {
  const other = new OvsdbClient({ remote: lab.nbUnix, database: 'OVN_Northbound', monitor: NB_MONITOR });
  await other.connect();
  try {
    let replans = 0;
    const counting = (db: Db): Db => ({ ...db, transact: (ops) => db.transact(ops).catch((e: unknown) => { if (lostRace(e)) replans++; throw e; }) });
    const [h1, h2] = [counting(nb), counting(nbDb(other))];
    const a = parseGroup({ name: 'x', tenant: 't2', ingress: [{ protocol: 'tcp', ports: '1-100' }] });
    const b = parseGroup({ name: 'x', tenant: 't2', ingress: [{ protocol: 'udp', ports: '53' }, { protocol: 'icmp' }] });
    const y = parseGroup({ name: 'y', tenant: 't2', egress: [{ protocol: 'all', remote: { group: 'x' } }] });
    await Promise.all([commitPlan(h1, () => upsertGroupOps(h1, a)), commitPlan(h2, () => upsertGroupOps(h2, b)), commitPlan(h2, () => upsertGroupOps(h2, y))]);
    console.log(`# three concurrent definitions (one group twice, from two hosts): ${replans} transaction(s) lost a race and were planned again`);
    assert.ok(replans >= 1, 'the plans raced (all were made on the same cache)');
    await other.echo(); // both caches have seen every commit
    await client.echo();
    const names = (await lab.nbctl('--bare', '--columns=name', 'list', 'Port_Group')).split('\n').filter(Boolean).sort();
    assert.deepEqual(names, [DROP_PG, pgName('t2/x'), pgName('t2/y')].sort());
    const x = findGroup(nb, 't2/x');
    assert.ok(x && [a, b].some((g) => JSON.stringify(g) === JSON.stringify(x)), 'one of the two definitions, whole');
    const xAcls = (await lab.nbctl('--bare', '--columns=match', 'find', 'ACL', 'external_ids:ocn-sg=t2/x')).split('\n').filter(Boolean);
    assert.equal(xAcls.length, new Set(xAcls).size, `no duplicate: ${xAcls.join(' | ')}`);
    assert.equal(xAcls.length, x.ingress.length, "the winner's ACLs, and only them");
    // Deleting x while y refers to it leaves an empty placeholder; deleting y then takes everything.
    await commitPlan(nb, () => deleteGroupOps(nb, 't2/x'));
    assert.equal(findGroup(nb, 't2/x'), undefined);
    assert.ok(nbByName(nb, 'Port_Group', pgName('t2/x')), 'placeholder kept for y');
    await commitPlan(h2, () => deleteGroupOps(h2, 't2/y'));
    assert.equal(await lab.nbctl('--bare', '--columns=name', 'list', 'Port_Group'), '');
    assert.equal(await lab.nbctl('--bare', '--columns=_uuid', 'list', 'ACL'), '');
  } finally {
    await other.close();
  }
});
