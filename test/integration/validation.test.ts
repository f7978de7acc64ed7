// Identifiers and addresses refused at the protocol edge, against the real daemon: the answer is
// a clear Err, and iptables, ip6tables and OVS are exactly as they were.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { startPlugin, Plugin } from '../harness/plugin';
import { ensureSystemOvs, vsctl, vsctlRun } from '../harness/ovs';
import { run, waitFor } from '../harness/exec';
import { purgeChains } from '../harness/iptables';
import { chainNames } from '../../src/net/firewall';
import { kvKeys } from '../e2e/helpers';
import { ok, err, hexId, createNetworkBody } from './helpers';

const BR = `brv${crypto.randomBytes(2).toString('hex')}`;
let p: Plugin;
let net = '';
let ep = '';

before(async () => {
  await ensureSystemOvs();
  p = await startPlugin();
  // The daemon hooks its chains in after start-up: the snapshots begin once that settled.
  const c = chainNames(p.name);
  await waitFor(async () => {
    const v4 = (await run('iptables-save', [])).stdout;
    return [`-A POSTROUTING -j ${c.post}`, `-A FORWARD -j ${c.fwd}`, `-j ${c.dnat}`].every((hook) => v4.includes(hook));
  }, { timeoutMs: 15_000, what: `the chains of ${p.name} hooked in` });
  let last = '';
  await waitFor(async () => { const now = await rules(); const same = now === last; last = now; return same; }, { timeoutMs: 15_000, intervalMs: 500, what: 'iptables to settle' });
});
after(async () => {
  if (ep) await p.call('NetworkDriver.DeleteEndpoint', { NetworkID: net, EndpointID: ep });
  // Every network the daemon recorded, including any a daemon without the checks accepted.
  const prefix = `ocn.${p.name}.net.`;
  for (const k of await kvKeys(p.name)) if (k.startsWith(prefix)) await p.call('NetworkDriver.DeleteNetwork', { NetworkID: k.slice(prefix.length) });
  await p?.stop();
  await purgeChains(new RegExp(`^${chainNames(p.name).post.slice(0, 10)}`));
  await vsctlRun('--if-exists', 'del-br', BR);
});

/** iptables-save and ip6tables-save without their "# Generated ... on <date>" comment lines. */
async function rules(): Promise<string> {
  const out: string[] = [];
  for (const cmd of ['iptables-save', 'ip6tables-save']) {
    const r = await run(cmd, [], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
    out.push(r.stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n'));
  }
  return out.join('\n==== ip6tables\n');
}

/** What of OVS this daemon could have made: its records, its ports, the test's bridge. */
async function ovsState(): Promise<string> {
  const ifaces = await vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-owner=${p.name}`);
  const bridge = (await vsctlRun('br-exists', BR)).code === 0 ? `bridge ${BR}` : 'no bridge';
  return JSON.stringify({ kv: await kvKeys(p.name), ifaces: ifaces.split('\n').sort(), bridge });
}

/**
 * Sends a request that must be refused and checks nothing changed. Other engineers' tests share
 * this host's iptables: a difference that names nothing of ours (our chains, the subnets used
 * here, the injected text) is theirs, and the case is repeated with fresh input (the daemon
 * never saw it, so an old daemon that accepted the first would show the change again).
 */
async function refusedWithoutTrace(make: (attempt: number) => { method: string; body: unknown }, message: RegExp): Promise<void> {
  const ours = new RegExp(`${chainNames(p.name).post.slice(0, 10)}|10\\.21[45]\\.|-A INPUT -j ACCEPT|${BR}`);
  for (let attempt = 0; ; attempt++) {
    const [rulesBefore, ovsBefore] = [await rules(), await ovsState()];
    const { method, body } = make(attempt);
    assert.match(await err(p, method, body), message);
    const [rulesAfter, ovsAfter] = [await rules(), await ovsState()];
    assert.equal(ovsAfter, ovsBefore, 'no OVS row or record was made');
    if (rulesAfter === rulesBefore) return;
    const a = new Set(rulesBefore.split('\n'));
    const b = new Set(rulesAfter.split('\n'));
    const diff = [...[...a].filter((l) => !b.has(l)).map((l) => `- ${l}`), ...[...b].filter((l) => !a.has(l)).map((l) => `+ ${l}`)];
    if (attempt >= 3 || diff.some((l) => ours.test(l))) assert.fail(`iptables changed:\n${diff.join('\n')}`);
  }
}

test('CreateNetwork with NetworkID "x\\n-A INPUT -j ACCEPT" is refused and changes nothing', async () => {
  await refusedWithoutTrace(
    (n) => ({ method: 'NetworkDriver.CreateNetwork', body: createNetworkBody(`x${n || ''}\n-A INPUT -j ACCEPT`, '10.214.0.0/24', '10.214.0.1/24', { bridge: BR }) }),
    /CreateNetwork: invalid request: NetworkID: "x\d*\\n-A INPUT -j ACCEPT" is not valid; accepted: 64 lowercase hex characters \(a local network id\) or 25 characters of 0-9 a-z \(a swarm network id\)/,
  );
});

test('CreateNetwork with a reserved external_ids key is refused and changes nothing', async () => {
  for (const key of ['iface-id', 'ovn-installed']) {
    await refusedWithoutTrace(
      () => ({ method: 'NetworkDriver.CreateNetwork', body: createNetworkBody(hexId(), '10.214.0.0/24', '10.214.0.1/24', { bridge: BR, external_ids: `${key}=x` }) }),
      new RegExp(`option external_ids: key "${key}" is reserved \\(OVS, OVN and the plugin act on ocn-\\*, ovn-\\*, xs-\\*, iface-id, iface-status, attached-mac, vm-id\\)`),
    );
  }
});

const binding = (b: Record<string, unknown>) => ({ Proto: 6, IP: '10.215.0.2', Port: 80, HostIP: '', HostPort: 18080, HostPortEnd: 18080, ...b });
const program = (b: Record<string, unknown>) => ({ method: 'NetworkDriver.ProgramExternalConnectivity', body: { NetworkID: net, EndpointID: ep, Options: { 'com.docker.network.portmap': [binding(b)] } } });

test('setup: a network with a joined endpoint', async () => {
  net = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(net, '10.215.0.0/24', '10.215.0.1/24', { bridge: BR }));
  ep = hexId();
  await ok(p, 'NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: '10.215.0.2/24' }, Options: {} });
  // The attach starts the network's warm port pool: let it fill before the states are compared.
  await waitFor(async () => {
    const ports = (await vsctl('--bare', '--columns=ofport', 'find', 'Interface', `external_ids:ocn-owner=${p.name}`, 'external_ids:ocn-owner-type=pool')).split(/\s+/).filter(Boolean);
    return ports.length >= 2 && ports.every((o) => Number(o) > 0) ? true : undefined;
  }, { timeoutMs: 15_000, what: 'the warm pool of the network filled' });
  await ok(p, 'NetworkDriver.Join', { NetworkID: net, EndpointID: ep, SandboxKey: '/var/run/docker/netns/v1', Options: {} });
});

test('CreateEndpoint with a bad EndpointID is refused and changes nothing', async () => {
  await refusedWithoutTrace(
    (n) => ({ method: 'NetworkDriver.CreateEndpoint', body: { NetworkID: net, EndpointID: `ep-${n + 1}\n-A INPUT -j ACCEPT`, Interface: { Address: '10.215.0.3/24' }, Options: {} } }),
    /CreateEndpoint: invalid request: EndpointID: "ep-\d\\n-A INPUT -j ACCEPT" is not valid; accepted: 64 lowercase hex characters/,
  );
});

test('a port binding with a bad HostIP is refused and changes nothing', async () => {
  await refusedWithoutTrace((n) => program({ HostIP: '0.0.0.0/0 -j ACCEPT\n-A INPUT -j ACCEPT', HostPort: 18080 + n }),
    /com\.docker\.network\.portmap\[0\]: HostIP: "0\.0\.0\.0\/0 -j ACCEPT\\n-A INPUT -j ACCEPT" is not valid; accepted: an IPv4 or IPv6 address, or empty/);
  await refusedWithoutTrace((n) => program({ HostIP: '0.0.0.0/0', HostPort: 18090 + n }), /HostIP: "0\.0\.0\.0\/0" is not valid/);
});

test('a port binding with a port outside 1-65535 is refused and changes nothing; good values are published', async () => {
  await refusedWithoutTrace((n) => program({ HostPort: 70000 + n }), /com\.docker\.network\.portmap\[0\]: HostPort: "?700\d\d"? is not valid; accepted: an integer 0-65535/);
  await refusedWithoutTrace(() => program({ Port: 0 }), /Port: "?0"? is not valid; accepted: an integer 1-65535/);
  await ok(p, 'NetworkDriver.ProgramExternalConnectivity', program({}).body);
  const nat = (await run('iptables-save', ['-t', 'nat'])).stdout;
  assert.match(nat, /--dport 18080 .*--to-destination 10\.215\.0\.2:80/);
  await ok(p, 'NetworkDriver.RevokeExternalConnectivity', { NetworkID: net, EndpointID: ep });
});
