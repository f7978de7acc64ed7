// The pure parts of port mirroring: parameters (what is refused, and how it says so), the OVSDB
// operations, reading rows back, the capture's request, tcpdump command line and CLI arguments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { JSONRPCServer, JSONRPCErrorCode } from 'json-rpc-2.0';
import { MirrorError, Mirrors, mirrorInfo, parseCreate, parseOutput, registerMirrorMethods } from '../../src/mirror/mirrors';
import { MIRROR_KEY, createMirrorOps, decodeMirrors, deleteMirrorOps, outputInterface, outputPortName, captureTapName, readMirrorsOps, selectColumns, vswitchdControl } from '../../src/mirror/ovs-mirror';
import { parseCaptureRequest, tcpdumpCommand } from '../../src/mirror/capture';
import { parseCaptureArgs } from '../../src/mirror/capture-cli';
import type { Operation } from '../../src/ovsdb/types';

const EP = 'a'.repeat(64);

test('mirror.create params: one source, a direction (default both), one output', () => {
  assert.deepEqual(parseCreate({ endpoint: 'abcdef', output: { type: 'interface', name: 'mir0' } }), { source: { endpoint: 'abcdef' }, direction: 'both', output: { type: 'interface', name: 'mir0' } });
  assert.deepEqual(parseCreate({ network: 'abcdef12', direction: 'both', output: { type: 'gre', remote_ip: '10.0.0.9', key: 7 } }).output, { type: 'gre', remoteIp: '10.0.0.9', key: 7 });
  assert.deepEqual(parseOutput({ type: 'erspan', remote_ip: '10.0.0.9' }), { type: 'erspan', remoteIp: '10.0.0.9', key: 0 });
  assert.equal(parseCreate({ endpoint: EP, direction: 'in', output: { type: 'interface', name: 'm' } }).direction, 'in');
});

test('mirror.create refuses bad params, naming the parameter, the value and what is accepted', () => {
  const cases: [unknown, string, RegExp][] = [
    [undefined, 'params', /expected an object like/],
    [{ endpoint: EP, network: EP, output: {} }, 'endpoint', /exactly one source/],
    [{ output: {} }, 'endpoint', /exactly one source/],
    [{ endpoint: 'abc', output: {} }, 'endpoint', /"abc" is not an id; accepted: the id or a unique prefix of at least 6/],
    [{ endpoint: EP, direction: 'ingress', output: { type: 'interface', name: 'm' } }, 'direction', /"ingress"; accepted: "both", "in" \(traffic to the container\), "out"/],
    [{ endpoint: EP, output: { type: 'interface', name: 'much-too-long-name' } }, 'output.name', /not an interface name \(1-15/],
    [{ endpoint: EP, output: { type: 'interface', name: 'ocmo1234' } }, 'output.name', /the daemon's own/],
    [{ endpoint: EP, output: { type: 'gre', remote_ip: 'fd00::1', key: 1 } }, 'output.remote_ip', /"fd00::1" is not an IPv4 address/],
    [{ endpoint: EP, output: { type: 'erspan', remote_ip: '10.0.0.1', key: 2000 } }, 'output.key', /accepted for erspan: an integer 0-1023/],
    [{ endpoint: EP, output: { type: 'gre', remote_ip: '10.0.0.1', key: -1 } }, 'output.key', /0-4294967295/],
    [{ endpoint: EP, output: { type: 'vxlan' } }, 'output.type', /accepted: \{"type": "interface", "name": NAME\}/],
    [{ endpoint: EP, output: { type: 'interface', name: 'm' }, snaplen: 10 }, 'snaplen', /unknown parameter; accepted: endpoint, network, direction, output/],
  ];
  for (const [params, field, why] of cases) {
    assert.throws(() => parseCreate(params), (e: unknown) => {
      assert.ok(e instanceof MirrorError);
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.equal(e.field, field, JSON.stringify(params));
      assert.match(e.message, why);
      return true;
    });
  }
});

test('selection: a port receives what the container sends, so "out" is select_src_port and "in" select_dst_port', () => {
  assert.deepEqual(selectColumns({ ports: ['u1'], direction: 'out' }), { select_src_port: ['set', [['uuid', 'u1']]], select_dst_port: ['set', []] });
  assert.deepEqual(selectColumns({ ports: ['u1'], direction: 'in' }), { select_src_port: ['set', []], select_dst_port: ['set', [['uuid', 'u1']]] });
  assert.deepEqual(selectColumns({ ports: ['u1'], direction: 'both' }), { select_src_port: ['set', [['uuid', 'u1']]], select_dst_port: ['set', [['uuid', 'u1']]] });
  assert.deepEqual(selectColumns({ vlan: 12 }), { select_all: true, select_vlan: ['set', [12]] });
});

test('output interfaces: veth (no type), GRE with its key, ERSPAN v1 with the key as session id', () => {
  assert.deepEqual(outputInterface({ type: 'interface', name: 'x' }), { type: '', options: {} });
  assert.deepEqual(outputInterface({ type: 'gre', remoteIp: '10.1.1.1', key: 5 }), { type: 'gre', options: { remote_ip: '10.1.1.1', key: '5' } });
  assert.deepEqual(outputInterface({ type: 'erspan', remoteIp: '10.1.1.1', key: 9 }).options, { remote_ip: '10.1.1.1', key: '9', erspan_ver: '1', erspan_idx: '1' });
  assert.ok(outputPortName('0123abcd').length <= 15 && captureTapName('0123abcd').length <= 15);
});

test('create: output Interface, Port (access VLAN), Mirror with owner ids, all referenced by the bridge in one transaction', () => {
  const ops = createMirrorOps('drv', { id: '0123abcd', bridgeUuid: 'br-uuid', selection: { ports: ['p1'], direction: 'both' }, output: { type: 'interface', name: 'mir0' }, portName: 'ocmo0123abcd', access: 10, ids: { [MIRROR_KEY.endpoint]: EP } });
  assert.deepEqual(ops.map((o) => `${o.op} ${'table' in o ? o.table : ''}`), ['insert Interface', 'insert Port', 'insert Mirror', 'mutate Bridge']);
  const port = ops[1] as Extract<Operation, { op: 'insert' }>;
  assert.equal(port.row.tag, 10);
  assert.equal(port.row.vlan_mode, 'access');
  const mirror = ops[2] as Extract<Operation, { op: 'insert' }>;
  assert.equal(mirror.row.name, 'ocn-mirror-0123abcd');
  assert.deepEqual(mirror.row.output_port, ['named-uuid', 'mirror_port']);
  const ids = new Map((mirror.row.external_ids as ['map', [string, string][]])[1]);
  assert.equal(ids.get('ocn-owner'), 'drv');
  assert.equal(ids.get('ocn-owner-type'), 'mirror');
  assert.equal(ids.get(MIRROR_KEY.id), '0123abcd');
  assert.equal(ids.get(MIRROR_KEY.endpoint), EP);
  const bridge = ops[3] as Extract<Operation, { op: 'mutate' }>;
  assert.deepEqual(bridge.mutations.map((m) => m[0]), ['ports', 'mirrors']);
  const noTag = createMirrorOps('drv', { id: 'x', bridgeUuid: 'b', selection: { vlan: 0 }, output: { type: 'gre', remoteIp: '10.0.0.1', key: 1 }, portName: 'ocmox', ids: {} });
  assert.equal((noTag[1] as Extract<Operation, { op: 'insert' }>).row.tag, undefined, 'no access VLAN (OVN): a plain port');
  assert.deepEqual(deleteMirrorOps({ uuid: 'm1', bridgeUuid: 'b1', outputPort: 'p1' }), [{ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', ['uuid', 'b1']]], mutations: [['mirrors', 'delete', ['set', [['uuid', 'm1']]]], ['ports', 'delete', ['set', [['uuid', 'p1']]]]] }]);
});

test('read back: only owned mirrors, placed on their bridge, statistics decoded', () => {
  const [sel] = readMirrorsOps('drv');
  assert.deepEqual((sel as Extract<Operation, { op: 'select' }>).where, [['external_ids', 'includes', ['map', [['ocn-owner', 'drv'], ['ocn-owner-type', 'mirror']]]]]);
  const rows = decodeMirrors([
    { rows: [
      { _uuid: ['uuid', 'm1'], external_ids: ['map', [['ocn-mirror', 'bbbb'], [MIRROR_KEY.endpoint, EP], [MIRROR_KEY.direction, 'in'], [MIRROR_KEY.output, '{"type":"gre","remoteIp":"10.0.0.2","key":3}']]], output_port: ['uuid', 'p1'], statistics: ['map', [['tx_packets', 4], ['tx_bytes', 400]]] },
      { _uuid: ['uuid', 'm2'], external_ids: ['map', [['ocn-mirror', 'aaaa']]], output_port: ['set', []], statistics: ['map', []] },
      { _uuid: ['uuid', 'gone'], external_ids: ['map', [['ocn-mirror', 'cccc']]], output_port: ['set', []], statistics: ['map', []] },
    ] },
    { rows: [{ _uuid: ['uuid', 'b1'], name: 'br0', mirrors: ['set', [['uuid', 'm1'], ['uuid', 'm2']]] }, { _uuid: ['uuid', 'b2'], name: 'br1', mirrors: ['set', []] }] },
  ]);
  assert.deepEqual(rows.map((r) => [r.id, r.bridge, r.outputPort]), [['aaaa', 'br0', undefined], ['bbbb', 'br0', 'p1']], 'sorted by id; a row no bridge refers to is left out');
  assert.deepEqual(mirrorInfo(rows[1], 'ocmobbbb'), {
    id: 'bbbb', source: { endpoint: EP }, direction: 'in', bridge: 'br0', output: { type: 'gre', remote_ip: '10.0.0.2', key: 3 }, port: 'ocmobbbb', statistics: { tx_packets: 4, tx_bytes: 400 },
  });
});

test('the JSON-RPC methods answer a mirror error with its code and field (invalid params: -32602)', async () => {
  const rpc = new JSONRPCServer({ errorListener: () => undefined });
  const mirrors = new Mirrors({ name: 'drv', db: { transact: async () => [{ rows: [] }, { rows: [] }], rows: () => [], waitFor: async () => { throw new Error('no'); } }, registry: { networks: new Map(), endpoints: new Map(), locks: { run: (_k: string, fn: () => Promise<unknown>) => fn() } } as never, links: {} as never, ovsdbRemote: 'unix:/nonexistent/db.sock', accessVlan: () => undefined, log: { info() {}, warn() {} } as never });
  registerMirrorMethods(rpc, mirrors);
  const bad = await rpc.receive({ jsonrpc: '2.0', id: 1, method: 'mirror.create', params: { endpoint: EP, direction: 'sideways', output: { type: 'interface', name: 'm' } } });
  assert.equal(bad?.error?.code, JSONRPCErrorCode.InvalidParams);
  assert.deepEqual(bad?.error?.data, { code: 'INVALID_ARGUMENT', field: 'direction' });
  const missing = await rpc.receive({ jsonrpc: '2.0', id: 2, method: 'mirror.create', params: { endpoint: EP, output: { type: 'interface', name: 'm' } } });
  assert.equal(missing?.error?.code, -32000);
  assert.deepEqual(missing?.error?.data, { code: 'ENDPOINT_NOT_FOUND', field: 'endpoint' });
  const gone = await rpc.receive({ jsonrpc: '2.0', id: 3, method: 'mirror.delete', params: { id: 'nope' } });
  assert.deepEqual(gone?.error?.data, { code: 'MIRROR_NOT_FOUND', field: 'id' });
  assert.match(gone?.error?.message ?? '', /no mirror nope on this host \(mirror.list shows them\)/);
  const list = await rpc.receive({ jsonrpc: '2.0', id: 4, method: 'mirror.list' });
  assert.deepEqual(list?.result, []);
});

test('forgetEndpoint reads OVSDB only for an endpoint that may have a mirror (most endpoint deletes cost nothing)', async () => {
  let reads = 0;
  const row = { _uuid: ['uuid', 'm1'], external_ids: ['map', [['ocn-mirror', 'aaaa'], [MIRROR_KEY.endpoint, EP]]], output_port: ['uuid', 'p1'], statistics: ['map', []] };
  let mirrors = [row];
  const db = {
    transact: async (ops: Operation[]) => {
      if (ops[0].op === 'select') { reads++; return [{ rows: mirrors }, { rows: mirrors.length ? [{ _uuid: ['uuid', 'b1'], name: 'br0', mirrors: ['uuid', 'm1'] }] : [] }]; }
      mirrors = [];
      return [{}];
    },
    rows: () => [], waitFor: async () => undefined,
  };
  const svc = new Mirrors({ name: 'drv', db: db as never, registry: { networks: new Map(), endpoints: new Map(), locks: { run: (_k: string, fn: () => Promise<unknown>) => fn() } } as never, links: { deleteLink: async () => true } as never, ovsdbRemote: 'unix:/nonexistent/db.sock', accessVlan: () => undefined, log: { info() {}, warn() {} } as never });
  assert.deepEqual(await svc.forgetEndpoint('b'.repeat(64)), [], 'not read yet: one read');
  assert.equal(reads, 1);
  assert.deepEqual(await svc.forgetEndpoint('c'.repeat(64)), [], 'known to have none: no read');
  assert.equal(reads, 1);
  assert.deepEqual(await svc.forgetEndpoint(EP), ['aaaa'], 'the mirrored one: read and removed');
  assert.equal(mirrors.length, 0);
});

test('capture request, tcpdump command line and CLI arguments', () => {
  assert.deepEqual(parseCaptureRequest({ endpoint: 'abcdef', seconds: 5, filter: ' icmp ' }), { endpoint: 'abcdef', seconds: 5, filter: 'icmp' });
  assert.deepEqual(parseCaptureRequest({ endpoint: 'abcdef', seconds: 5, filter: '' }), { endpoint: 'abcdef', seconds: 5 });
  assert.throws(() => parseCaptureRequest({ endpoint: 'abcdef', seconds: 0 }), /seconds: 0; accepted: an integer 1-3600/);
  assert.throws(() => parseCaptureRequest({ endpoint: 'ab', seconds: 1 }), /endpoint: "ab" is not an endpoint id/);
  const [cmd, args] = tcpdumpCommand('ocmt1', 5, 'tcp port 80');
  assert.equal(cmd, 'timeout');
  assert.deepEqual(args, ['--kill-after=2', '10', 'tcpdump', '-n', '-i', 'ocmt1', '-Q', 'in', '-U', '-w', '-', 'tcp port 80'], 'the filter is one argument, never a shell word');
  const a = parseCaptureArgs(['capture', 'abcdef12', '--seconds', '3', '--filter', 'icmp', '--name', 'ocn1'], { OCN_PLUGIN_DIR: '/tmp/p' });
  assert.deepEqual(a, { socket: '/tmp/p/ocn1.sock', request: { endpoint: 'abcdef12', seconds: 3, filter: 'icmp' } });
  assert.throws(() => parseCaptureArgs(['abcdef12'], {}), /--seconds: an integer 1-3600 is required/);
  assert.throws(() => parseCaptureArgs(['--seconds', '2'], {}), /one ENDPOINT is expected, got none/);
  assert.throws(() => parseCaptureArgs(['x', '--secs', '2'], {}), /unknown option --secs/);
});

test("ovs-vswitchd's control socket is found in the OVS run dir beside the OVSDB socket", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocn-mirror-'));
  try {
    fs.writeFileSync(path.join(dir, 'ovs-vswitchd.pid'), '4242\n');
    assert.equal(vswitchdControl(`unix:${dir}/db.sock`), `${dir}/ovs-vswitchd.4242.ctl`);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});
