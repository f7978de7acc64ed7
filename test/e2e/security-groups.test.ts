// Security groups on a plain OVS network under a real dockerd, proven with traffic: a network's
// groups (-o security_groups), an endpoint's own (--driver-opt), TCP ports and ICMP per rule,
// replies, a remote-group rule following sg.attach/sg.detach on a running container, a group
// changed under running containers, refusals that change nothing, and flows the reconcile loop
// puts back after OVS lost them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as path from 'node:path';
import { run } from '../harness/exec';
import { pluginBinPath } from '../harness/plugin';
import { DAEMON_NODE_FLAGS } from '../../src/node-flags';
import { Env, IMAGE, cleanup, dockerFails, dockerOk, exec, netSettings, note, pingFails, pings, setup, sleep, waitFor } from './helpers';

let env: Env;
before(async () => {
  env = await setup('sg');
});
after(async () => {
  await cleanup(env);
});

interface RpcAnswer<T> { result?: T; error?: { code: number; message: string; data?: { code?: string; field?: string } } }

async function rpc<T = unknown>(method: string, params?: unknown): Promise<RpcAnswer<T>> {
  return (await env.p.call<RpcAnswer<T>>('ocn/v1/rpc', { jsonrpc: '2.0', id: 1, method, ...(params === undefined ? {} : { params }) })).body;
}

async function rpcOk<T = unknown>(method: string, params?: unknown): Promise<T> {
  const a = await rpc<T>(method, params);
  assert.ok(!a.error, `${method}: ${JSON.stringify(a.error)}`);
  return a.result as T;
}

/** Inside a container: what a TCP server at ip:port says, or '' when nothing answers within 2 s. */
async function tcpFrom(container: string, ip: string, port: number): Promise<string> {
  const r = await exec(env, container, ['nc', '-w', '2', ip, String(port)], 20_000);
  return r.stdout.trim();
}

/** ms until `ok()` first holds, polling; fails after `limitMs`. */
async function timeUntil(what: string, ok: () => Promise<boolean>, limitMs = 10_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await ok()) return Date.now() - t0;
    if (Date.now() - t0 > limitMs) assert.fail(`${what}: not within ${limitMs} ms`);
  }
}

const endpointOf = async (container: string) => (await netSettings(env, container, 'sga')).EndpointID;
const flowCount = async () => (await run('ovs-ofctl', ['dump-flows', env.bridge])).stdout.split('\n').filter((l) => /cookie=0x[0-9a-f]+/.test(l) && !/cookie=0x0,/.test(l)).length;
const server = ['sh', '-c', 'nc -ll -p 8080 -e echo web & nc -ll -p 9090 -e echo other & exec sleep 1d'];

test('groups on a network and an endpoint: allowed port and ICMP pass, the rest is dropped, replies pass', async () => {
  await rpcOk('sg.create', { name: 'client', tenant: 't1', description: 'clients: open anything, accept nothing new', egress: [{ protocol: 'all', remote: '0.0.0.0/0' }] });
  await rpcOk('sg.create', {
    name: 'web', tenant: 't1',
    ingress: [{ protocol: 'tcp', ports: '8080', remote: '0.0.0.0/0' }, { protocol: 'icmp', remote: { group: 'client' } }],
    egress: [{ protocol: 'all', remote: '0.0.0.0/0' }],
  });
  await dockerOk(env, ['network', 'create', '-d', env.P, '--subnet', '10.97.0.0/24', '-o', `bridge=${env.bridge}`, '-o', 'tenant_id=t1', '-o', 'security_groups=web', 'sga']);
  await dockerOk(env, ['run', '-d', '--name', 'srv', '--network', 'sga', IMAGE, ...server]);
  await dockerOk(env, ['run', '-d', '--name', 'peer', '--network', 'sga', IMAGE, ...server]);
  // A client: its own groups through --driver-opt, replacing the network's.
  await dockerOk(env, ['create', '--name', 'cli', IMAGE, 'sleep', '1d']);
  await dockerOk(env, ['network', 'connect', '--driver-opt', 'security_groups=client', 'sga', 'cli']);
  await dockerOk(env, ['network', 'disconnect', 'bridge', 'cli']);
  await dockerOk(env, ['start', 'cli']);
  const srv = (await netSettings(env, 'srv', 'sga')).IPAddress;
  const cli = (await netSettings(env, 'cli', 'sga')).IPAddress;
  const eps = (await rpcOk<{ id: string; securityGroups?: string[] }[]>('endpoints.list'));
  const [cliEp, srvEp] = [await endpointOf('cli'), await endpointOf('srv')];
  assert.deepEqual(eps.find((e) => e.id === cliEp)?.securityGroups, ['client']);
  assert.deepEqual(eps.find((e) => e.id === srvEp)?.securityGroups, ['web']);
  await waitFor(async () => (await tcpFrom('cli', srv, 8080)) === 'web', { timeoutMs: 15_000, what: 'cli reaches srv:8080 (allowed by web)' });
  assert.equal(await tcpFrom('cli', srv, 9090), '', 'srv:9090 is not allowed by web');
  assert.ok(await pings(env, 'cli', srv), 'ICMP from a member of client is allowed by web');
  assert.ok(await pingFails(env, 'peer', srv), 'ICMP from peer (not in client) is dropped');
  assert.equal(await tcpFrom('peer', srv, 8080), 'web', 'tcp 8080 is open to anyone');
  // cli accepts nothing new, yet its own connections above got their replies (stateful).
  assert.ok(await pingFails(env, 'srv', cli), 'client accepts no new connection');
  assert.equal(await tcpFrom('srv', cli, 8080), '', 'nor TCP');
});

test('sg.attach / sg.detach on a running container: a remote-group rule follows within 1 s', async () => {
  const peerEp = await endpointOf('peer');
  const srv = (await netSettings(env, 'srv', 'sga')).IPAddress;
  const t0 = Date.now();
  const r = await rpcOk<{ security_groups: string[] }>('sg.attach', { endpoint: peerEp.slice(0, 12), groups: ['client'] });
  const apiMs = Date.now() - t0;
  assert.deepEqual(r.security_groups, ['web', 'client']);
  const onMs = await timeUntil('peer pings srv once in client', async () => (await exec(env, 'peer', ['ping', '-c', '1', '-W', '1', srv])).code === 0);
  const t1 = Date.now();
  await rpcOk('sg.detach', { endpoint: peerEp, groups: ['client'] });
  const offMs = await timeUntil('peer no longer pings srv', async () => (await exec(env, 'peer', ['ping', '-c', '1', '-W', '1', srv])).code !== 0);
  const detachMs = Date.now() - t1;
  console.log(`# sg.attach answered in ${apiMs} ms, traffic allowed ${onMs} ms after it returned; sg.detach: traffic dropped after ${detachMs} ms (first failing ping ${offMs} ms, 1 s ping timeout included)`);
  assert.ok(apiMs + onMs < 1000, `attach takes effect within 1 s (${apiMs + onMs} ms)`);
});

test('a group changed under running containers takes effect within 1 s; one in use cannot be deleted', async () => {
  const srv = (await netSettings(env, 'srv', 'sga')).IPAddress;
  assert.equal(await tcpFrom('cli', srv, 9090), '');
  const t0 = Date.now();
  await rpcOk('sg.update', {
    name: 'web', tenant: 't1',
    ingress: [{ protocol: 'tcp', ports: '8080', remote: '0.0.0.0/0' }, { protocol: 'tcp', ports: '9000-9100', remote: { group: 'client' } }, { protocol: 'icmp', remote: { group: 'client' } }],
    egress: [{ protocol: 'all', remote: '0.0.0.0/0' }],
  });
  const apiMs = Date.now() - t0;
  const tcpMs = await timeUntil('cli reaches srv:9090', async () => (await tcpFrom('cli', srv, 9090)) === 'other');
  console.log(`# sg.update answered in ${apiMs} ms; srv:9090 reachable ${tcpMs} ms later`);
  assert.ok(apiMs + tcpMs < 1000, `an update takes effect within 1 s (${apiMs + tcpMs} ms)`);
  assert.equal(await tcpFrom('peer', srv, 9090), '', 'the new range is open to client members only');
  const inUse = await rpc('sg.delete', { name: 'web', tenant: 't1' });
  assert.equal(inUse.error?.data?.code, 'SECURITY_GROUP_IN_USE', JSON.stringify(inUse));
  assert.match(inUse.error!.message, /endpoint|network/);
  const referenced = await rpc('sg.delete', { name: 'client', tenant: 't1' });
  assert.equal(referenced.error?.data?.code, 'SECURITY_GROUP_IN_USE');
  assert.ok((await rpcOk<{ name: string }[]>('sg.list', { tenant: 't1' })).some((g) => g.name === 'web'), 'still there');
});

test('bad groups are refused with the option named and nothing created', async () => {
  const before = await flowCount();
  const msg = await dockerFails(env, ['network', 'create', '-d', env.P, '--subnet', '10.98.0.0/24', '-o', `bridge=${env.bridge}`, '-o', 'tenant_id=t1', '-o', 'security_groups=nope', 'sgbad']);
  assert.match(msg, /security_groups.*nope.*does not exist/);
  assert.notEqual((await env.d.docker(['network', 'inspect', 'sgbad'])).code, 0, 'no network');
  await dockerOk(env, ['create', '--name', 'bad', '--network', 'sga', IMAGE, 'sleep', '1d']);
  await dockerOk(env, ['network', 'disconnect', 'sga', 'bad']);
  await dockerOk(env, ['network', 'connect', '--driver-opt', 'security_groups=web:missing', 'sga', 'bad']);
  const started = await dockerFails(env, ['start', 'bad']);
  assert.match(started, /missing.*does not exist/);
  assert.equal(await flowCount(), before, 'no flow changed');
  const badCidr = await rpc('sg.create', { name: 'x', tenant: 't1', ingress: [{ protocol: 'tcp', ports: '80', remote: '10.0.0.0/33' }] });
  assert.equal(badCidr.error?.data?.code, 'INVALID_CIDR');
  assert.equal(badCidr.error?.data?.field, 'ingress[0].remote');
  const badPorts = await rpc('sg.create', { name: 'x', tenant: 't1', ingress: [{ protocol: 'icmp', ports: '80' }] });
  assert.equal(badPorts.error?.data?.code, 'INVALID_ARGUMENT');
  assert.match(badPorts.error!.message, /ingress\[0\]\.ports/);
  const missing = await rpc('sg.get', { name: 'nope', tenant: 't1' });
  assert.equal(missing.error?.data?.code, 'SECURITY_GROUP_NOT_FOUND');
  // The CLI shows the code too, and fails.
  const cli = await run(process.execPath, [...DAEMON_NODE_FLAGS, pluginBinPath(), 'ctl', '--name', env.p.name, '--plugin-dir', path.dirname(env.p.socket), 'sg.get', '{"name": "nope", "tenant": "t1"}'], { timeoutMs: 30_000 });
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, /security group nope does not exist in tenant t1 .*"code":"SECURITY_GROUP_NOT_FOUND"/);
});

test('flows OVS lost are put back by the reconcile loop, and filtering holds again', async () => {
  const srv = (await netSettings(env, 'srv', 'sga')).IPAddress;
  const n = await flowCount();
  assert.ok(n > 0);
  await run('ovs-ofctl', ['del-flows', env.bridge]);
  await run('ovs-ofctl', ['add-flow', env.bridge, 'priority=0,actions=NORMAL']);
  const t0 = Date.now();
  await waitFor(async () => (await flowCount()) === n, { timeoutMs: 15_000, what: 'security group flows back' });
  note(`flows back after ${Date.now() - t0} ms`);
  await sleep(200);
  assert.ok(await pingFails(env, 'peer', srv), 'filtering holds again');
  assert.equal(await tcpFrom('cli', srv, 8080), 'web');
});

test("a tenant's default group, made on first use: its members reach each other, others cannot reach them, they reach anything", async () => {
  await dockerOk(env, ['network', 'create', '-d', env.P, '--subnet', '10.99.0.0/24', '-o', `bridge=${env.bridge}`, '-o', 'tenant_id=t3', '-o', 'security_groups=default', 'sgd']);
  const def = await rpcOk<{ ingress: unknown[]; egress: unknown[] }>('sg.get', { name: 'default', tenant: 't3' });
  assert.deepEqual(def.ingress, [{ protocol: 'all', remote: { group: 'default' } }]);
  await rpcOk('sg.create', { name: 'outsider', tenant: 't3', egress: [{ protocol: 'all', remote: '0.0.0.0/0' }] });
  for (const c of ['d1', 'd2']) await dockerOk(env, ['run', '-d', '--name', c, '--network', 'sgd', IMAGE, 'sleep', '1d']);
  await dockerOk(env, ['create', '--name', 'd3', IMAGE, 'sleep', '1d']);
  await dockerOk(env, ['network', 'connect', '--driver-opt', 'security_groups=outsider', 'sgd', 'd3']);
  await dockerOk(env, ['network', 'disconnect', 'bridge', 'd3']);
  await dockerOk(env, ['start', 'd3']);
  const [d1, d2, d3] = [await netSettings(env, 'd1', 'sgd'), await netSettings(env, 'd2', 'sgd'), await netSettings(env, 'd3', 'sgd')];
  assert.ok(await pings(env, 'd1', d2.IPAddress), 'members of default reach each other');
  assert.ok(await pingFails(env, 'd3', d1.IPAddress), 'a non-member cannot reach a member');
  assert.ok(await pings(env, 'd1', d1.Gateway), 'members reach beyond the group (egress to anything): the gateway');
  assert.ok(await pingFails(env, 'd1', d3.IPAddress), 'and the outsider accepts nothing new');
  for (const c of ['d1', 'd2', 'd3']) await env.d.docker(['rm', '-f', c]);
  await dockerOk(env, ['network', 'rm', 'sgd']);
  for (const name of ['outsider', 'default']) await rpcOk('sg.delete', { name, tenant: 't3' });
});

test('groups no longer used can be deleted; nothing of them is left', async () => {
  for (const c of ['srv', 'peer', 'cli', 'bad']) await env.d.docker(['rm', '-f', c]);
  await dockerOk(env, ['network', 'rm', 'sga']);
  assert.equal(await flowCount(), 0, 'no flow left on the bridge');
  for (const name of ['web', 'client', 'default']) await rpcOk('sg.delete', { name, tenant: 't1' });
  assert.deepEqual(await rpcOk('sg.list'), []);
});
