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
import type { NetworkDriver } from '../../src/protocol/network';
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
  const n = await post('/NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: 'x', Options: {} }));
  assert.equal(n.status, 500);
  assert.deepEqual(JSON.parse(n.text), { Err: 'option vlan: "5000" is not valid; accepted: 1-4094' });
  const i = await post('/IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'a', Pool: '', SubPool: '', Options: null, V6: false }));
  assert.equal(i.status, 500);
  assert.deepEqual(JSON.parse(i.text), { Err: 'RequestPool: subnet overlaps', Error: 'RequestPool: subnet overlaps' });
});

test('schema violations name the field', async () => {
  const r = await post('/NetworkDriver.Join', JSON.stringify({ NetworkID: 'n' }));
  assert.equal(r.status, 500);
  assert.match(JSON.parse(r.text).Err, /Join: invalid request: EndpointID/);
  const bad = await post('/NetworkDriver.Leave', '{not json');
  assert.match(JSON.parse(bad.text).Err, /not valid JSON/);
});

test('every request body recorded from a real dockerd validates', { skip: !recordedAvailable() && 'recordings absent' }, async () => {
  let n = 0;
  for (const scenario of listRecordedScenarios()) {
    for (const c of loadRecorded(scenario)) {
      if (!ROUTES[c.path] || c.path === '/NetworkDriver.CreateNetwork' || c.path === '/IpamDriver.RequestPool') continue;
      const r = await post(c.path, c.req === null ? '' : JSON.stringify(c.req) + '\n');
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
  await post('/NetworkDriver.Leave', JSON.stringify({ NetworkID: 'n', EndpointID: 'e' }));
  assert.equal(readyCalls, before + 1);
});
