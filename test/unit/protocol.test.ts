// The generic handler against recorded dockerd bodies: every real request validates, wire
// conventions hold (empty bodies, no Content-Type, 404 for unknown paths, Err/Error keys).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import pino from 'pino';
import { createPluginApp } from '../../src/server/plugin-server';
import { ROUTES, Drivers } from '../../src/protocol/routes';
import { PortBindingSchema, type NetworkDriver } from '../../src/protocol/network';
import type { IpamDriver } from '../../src/protocol/ipam';
import { InputError } from '../../src/util/errors';
import { recordedAvailable, listRecordedScenarios, loadRecorded } from '../harness/docker-calls';
import { unixRequest } from '../harness/unixhttp';

const calls: { method: string; body: unknown }[] = [];
function fake<T extends object>(prefix: string, overrides: Partial<Record<string, (b: unknown) => Promise<object>>> = {}): T {
  return new Proxy({}, {
    get: (_t, prop: string) => async (body: unknown) => {
      calls.push({ method: `${prefix}.${prop}`, body });
      const o = overrides[prop];
      return o ? o(body) : {};
    },
  }) as T;
}

let server: http.Server;
let sock: string;
let readyCalls = 0;
const drivers: Drivers = {
  network: fake<NetworkDriver>('net', { createNetwork: async () => { throw new InputError('option vlan: "5000" is not valid; accepted: 1-4094'); } }),
  ipam: fake<IpamDriver>('ipam', { requestPool: async () => { throw new InputError('RequestPool: subnet overlaps'); } }),
};

before(async () => {
  sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ocn-proto-')), 'p.sock');
  const app = createPluginApp({ drivers, logger: pino({ level: 'silent' }), ready: async () => { readyCalls++; } });
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(sock, () => r()));
});
after(() => new Promise<void>((r) => server.close(() => r())));

const post = (p: string, body?: string) => unixRequest(sock, 'POST', p, { body });
const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);

test('Plugin.Activate with an empty body and no Content-Type', async () => {
  const r = await post('/Plugin.Activate');
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.text), { Implements: ['NetworkDriver', 'IpamDriver'] });
});

test('every protocol path is routed', () => {
  const expected = ['GetCapabilities', 'CreateNetwork', 'DeleteNetwork', 'AllocateNetwork', 'FreeNetwork', 'CreateEndpoint',
    'EndpointOperInfo', 'DeleteEndpoint', 'Join', 'Leave', 'DiscoverNew', 'DiscoverDelete', 'ProgramExternalConnectivity',
    'RevokeExternalConnectivity', 'GwAllocCheck'].map((m) => `/NetworkDriver.${m}`)
    .concat(['GetCapabilities', 'GetDefaultAddressSpaces', 'RequestPool', 'ReleasePool', 'RequestAddress', 'ReleaseAddress'].map((m) => `/IpamDriver.${m}`));
  for (const p of expected) assert.ok(ROUTES[p], p);
});

test('unknown paths answer 404', async () => {
  assert.equal((await post('/NetworkDriver.Frobnicate', '{}')).status, 404);
  assert.equal((await post('/nothing', '{}')).status, 404);
});

test('a handler error is HTTP 500 with Err (network) and Err+Error (IPAM)', async () => {
  const n = await post('/NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: NET, Options: {} }));
  assert.equal(n.status, 500);
  assert.deepEqual(JSON.parse(n.text), { Err: 'option vlan: "5000" is not valid; accepted: 1-4094' });
  const i = await post('/IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'a', Pool: '', SubPool: '', Options: null, V6: false }));
  assert.equal(i.status, 500);
  assert.deepEqual(JSON.parse(i.text), { Err: 'RequestPool: subnet overlaps', Error: 'RequestPool: subnet overlaps' });
});

test('schema violations name the field', async () => {
  const r = await post('/NetworkDriver.Join', JSON.stringify({ NetworkID: NET }));
  assert.equal(r.status, 500);
  assert.match(JSON.parse(r.text).Err, /Join: invalid request: EndpointID/);
  const bad = await post('/NetworkDriver.Leave', '{not json');
  assert.match(JSON.parse(bad.text).Err, /not valid JSON/);
});

test('every request body recorded from a real dockerd validates', { skip: !recordedAvailable() && 'recordings absent' }, async () => {
  let n = 0;
  // t0_selftest is the recorder's own check with curl and made-up ids, not dockerd's requests.
  for (const scenario of listRecordedScenarios().filter((s) => s !== 't0_selftest')) {
    for (const c of loadRecorded(scenario)) {
      if (!ROUTES[c.path]) continue;
      // The recorder plugin named its pools after its own spaces; ours answer to ours.
      const body = c.req === null ? '' : JSON.stringify(c.req).replace(/"RecorderLocal\//g, '"ocn-local/').replace(/"RecorderGlobal\//g, '"ocn-global/');
      // These two fail in the fake drivers above: their bodies are checked against the schema alone.
      if (c.path === '/NetworkDriver.CreateNetwork' || c.path === '/IpamDriver.RequestPool') {
        const v = ROUTES[c.path].schema!.safeParse(JSON.parse(body));
        assert.ok(v.success, `${scenario} ${c.path}: ${body}`);
        continue;
      }
      const r = await post(c.path, body === '' ? '' : body + '\n');
      assert.equal(r.status, 200, `${scenario} ${c.path}: ${r.text}`);
      assert.ok(r.text.length > 0, 'never an empty body');
      n++;
    }
  }
  assert.ok(n > 100, `replayed ${n} calls`);
});

test('handshake calls do not wait for state; the rest do', async () => {
  const before = readyCalls;
  await post('/NetworkDriver.GetCapabilities');
  await post('/IpamDriver.GetCapabilities');
  assert.equal(readyCalls, before);
  await post('/NetworkDriver.Leave', JSON.stringify({ NetworkID: NET, EndpointID: EP }));
  assert.equal(readyCalls, before + 1);
});

test('identifiers and addresses are validated at the edge, the error quotes the value and says what is accepted', async () => {
  const refused = async (path: string, body: unknown, re: RegExp) => {
    const r = await post(path, JSON.stringify(body));
    assert.equal(r.status, 500, `${path} ${JSON.stringify(body)}: ${r.text}`);
    assert.match(JSON.parse(r.text).Err, re);
  };
  const before = calls.length;
  await refused('/NetworkDriver.CreateNetwork', { NetworkID: 'x\n-A INPUT -j ACCEPT', Options: {} },
    /CreateNetwork: invalid request: NetworkID: "x\\n-A INPUT -j ACCEPT" is not valid; accepted: 64 lowercase hex characters \(a local network id\) or 25 characters of 0-9 a-z \(a swarm network id\)/);
  await refused('/NetworkDriver.CreateNetwork', { NetworkID: NET.toUpperCase(), Options: {} }, /NetworkID: "A{64}" is not valid/);
  await refused('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: 'j8k34ua4j5xue1pvjabzqyz0z' }, /EndpointID: "j8k34ua4j5xue1pvjabzqyz0z" is not valid; accepted: 64 lowercase hex characters/);
  await refused('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.0.0.2/24; rm' } }, /Interface\.Address: "10\.0\.0\.2\/24; rm" is not valid/);
  await refused('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { MacAddress: 'zz' } }, /Interface\.MacAddress: "zz" is not valid; accepted: a MAC address/);
  await refused('/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: '/var/run/docker/netns/a\nb' }, /SandboxKey: .* accepted: an absolute path without control characters/);
  await refused('/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: 'netns/a' }, /SandboxKey: "netns\/a" is not valid/);
  await refused('/NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: [{ Pool: '10.0.0.0/24', Gateway: '10.0.0.1 x' }] }, /IPv4Data\.0\.Gateway: "10\.0\.0\.1 x" is not valid/);
  await refused('/NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: [{ Pool: '10.0.0.0/33' }] }, /IPv4Data\.0\.Pool: "10\.0\.0\.0\/33" is not valid; accepted: an IPv4 or IPv6 subnet in CIDR form/);
  await refused('/IpamDriver.RequestPool', { AddressSpace: 'ocn-local', Pool: '10.0.0.0/24\n' }, /Pool: "10\.0\.0\.0\/24\\n" is not valid/);
  await refused('/IpamDriver.RequestAddress', { PoolID: 'ocn-local/10.0.0.0/24|x', Address: '' }, /PoolID: "ocn-local\/10\.0\.0\.0\/24\|x" is not valid; accepted: a pool id this IPAM handed out/);
  await refused('/IpamDriver.RequestAddress', { PoolID: 'ocn-local/10.0.0.0/24', Address: '10.0.0.300' }, /Address: "10\.0\.0\.300" is not valid/);
  await refused('/IpamDriver.ReleasePool', { PoolID: 'other/10.0.0.0/24' }, /PoolID: "other\/10\.0\.0\.0\/24" is not valid/);
  assert.equal(calls.length, before, 'no refused request reached a driver');
  // Accepted: a swarm network id, both pool id forms, IPv6.
  for (const [path, body] of [
    ['/NetworkDriver.Leave', { NetworkID: 'j8k34ua4j5xue1pvjabzqyz0z', EndpointID: EP }],
    ['/IpamDriver.RequestAddress', { PoolID: 'ocn-global/10.0.0.0/16/10.0.1.0/24', Address: '10.0.1.5' }],
    ['/IpamDriver.ReleaseAddress', { PoolID: 'ocn-local/fd00:1::/64', Address: 'fd00:1::5' }],
  ] as const) assert.equal((await post(path, JSON.stringify(body))).status, 200, `${path} ${JSON.stringify(body)}`);
});

test('port bindings: HostIP an address or empty, ports 1-65535 (host port 0: any)', () => {
  const ok = { Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 };
  assert.ok(PortBindingSchema.safeParse(ok).success);
  assert.ok(PortBindingSchema.safeParse({ ...ok, HostIP: '::1', HostPort: 0 }).success);
  for (const bad of [{ HostIP: '0.0.0.0 -j ACCEPT' }, { HostIP: '1.2.3.4\n' }, { Port: 0 }, { Port: 70000 }, { HostPort: -1 }, { HostPort: 1.5 }, { HostPortEnd: 65536 }]) {
    assert.ok(!PortBindingSchema.safeParse({ ...ok, ...bad }).success, JSON.stringify(bad));
  }
});
