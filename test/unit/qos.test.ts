import { test } from 'node:test';
import assert from 'node:assert/strict';
import { burstKbit, decodeQos, effectiveQos, encodeQos, isQosKey, mergeQos, parseQos, qosView } from '../../src/qos/model';
import { clearIngressOps, ingressOps, meterIdFor, meterText, portFlowsBundle, portQosOf, qosCookie, renderPortQosFlows } from '../../src/qos/ovs-qos';
import { clearLspQosOps, qosRowSpecs, QOS_PRIORITY, setLspQosOps } from '../../src/ovn/qos';
import { InputError } from '../../src/util/errors';
import { renderSgFlows, SG_COOKIE, type SgPortMember } from '../../src/secgroups/ovs-flows';
import type { Db } from '../../src/ovs/db';
import type { Row } from '../../src/ovsdb/types';
import { nbOwner } from '../../src/model/owner-ids';

const rejects = (opts: Record<string, unknown>, ...parts: string[]) =>
  assert.throws(() => parseQos(opts), (e: unknown) => e instanceof InputError && parts.every((p) => e.message.includes(p)), `${JSON.stringify(opts)} should fail naming ${parts.join(', ')}`);

test('QoS options parse from strings (docker) and numbers (control API), other keys are left alone', () => {
  assert.deepEqual(parseQos({ 'qos.max_rate': '50', 'qos.max_rate_in': '0.5', 'qos.burst': '20000', 'qos.dscp': '46', vlan: '10' }), { maxRate: 50, maxRateIn: 0.5, burst: 20000, dscp: 46 });
  assert.deepEqual(parseQos({ 'qos.max_rate': 200, 'qos.dscp': 0 }), { maxRate: 200, dscp: 0 });
  assert.deepEqual(parseQos({ 'qos.max_rate': ' 10 ' }), { maxRate: 10 });
  assert.deepEqual(parseQos({ 'qos.max_rate': '0' }), { maxRate: 0 });
  assert.ok(isQosKey('qos.dscp') && !isQosKey('qos.rate'));
});

test('bad QoS values are refused naming the option, the value and what is accepted', () => {
  rejects({ 'qos.max_rate': 'fast' }, 'qos.max_rate', '"fast"', '0-100000 Mbit/s');
  rejects({ 'qos.max_rate': '-5' }, 'qos.max_rate', '"-5"');
  rejects({ 'qos.max_rate_in': '100001' }, 'qos.max_rate_in', '"100001"', '0-100000');
  rejects({ 'qos.max_rate': '1.2345' }, 'qos.max_rate', 'up to 3 decimals');
  rejects({ 'qos.max_rate': '0.0001' }, 'qos.max_rate');
  rejects({ 'qos.dscp': '64' }, 'qos.dscp', '"64"', '0-63');
  rejects({ 'qos.dscp': 'ef' }, 'qos.dscp', '"ef"');
  rejects({ 'qos.burst': '0' }, 'qos.burst', '"0"', 'kbit');
  rejects({ 'qos.burst': true }, 'qos.burst', 'a number');
  assert.throws(() => parseQos({ 'qos.rate': '1' }, true), /unknown QoS option "qos.rate"; known: qos.max_rate/);
});

test('the endpoint overrides the network key by key; 0 lifts a limit; a burst needs a rate', () => {
  const net = parseQos({ 'qos.max_rate': '50', 'qos.max_rate_in': '20', 'qos.dscp': '10' });
  const ep = parseQos({ 'qos.max_rate': '0', 'qos.dscp': '46' });
  const merged = mergeQos(net, ep);
  assert.deepEqual(merged, { maxRate: 0, maxRateIn: 20, dscp: 46 });
  assert.deepEqual(effectiveQos(merged), { maxRateIn: 20, dscp: 46 });
  assert.deepEqual(mergeQos({}, {}), {});
  assert.throws(() => effectiveQos({ burst: 100 }), (e: unknown) => e instanceof InputError && /qos.burst: 100 kbit limits nothing/.test(e.message));
  assert.throws(() => effectiveQos({ burst: 100, maxRate: 0 }), InputError);
});

test('the default burst is 0.4 s of the rate; a given one wins', () => {
  assert.equal(burstKbit({}, 50), 20_000);
  assert.equal(burstKbit({}, 10), 4_000);
  assert.equal(burstKbit({ burst: 1234 }, 50), 1234);
  assert.equal(burstKbit({}, 0.001), 1);
});

test('qosView speaks option keys; encode/decode round-trip', () => {
  const spec = { maxRate: 50, maxRateIn: 0.25, burst: 9000, dscp: 46 };
  assert.deepEqual(qosView(spec), { 'qos.max_rate': 50, 'qos.max_rate_in': 0.25, 'qos.burst': 9000, 'qos.dscp': 46 });
  assert.equal(encodeQos(spec), 'qos.max_rate=50,qos.max_rate_in=0.25,qos.burst=9000,qos.dscp=46');
  assert.deepEqual(decodeQos(encodeQos(spec)), spec);
  assert.deepEqual(decodeQos(''), {});
  assert.deepEqual(decodeQos(undefined), {});
  assert.throws(() => decodeQos('garbage'), InputError);
});

test('plain OVS: meter id and cookie from the port number; meter text in kbps with the burst', () => {
  assert.equal(meterIdFor(7), 7);
  assert.throws(() => meterIdFor(0), RangeError);
  assert.throws(() => meterIdFor(0xff00), RangeError);
  assert.equal(qosCookie(7), '0x6f636e7100000007');
  assert.equal(meterText(7, 50, 20000), 'meter=7,kbps,burst,band=type=drop,rate=50000,burst_size=20000');
  assert.equal(meterText(3, 0.5, 200), 'meter=3,kbps,burst,band=type=drop,rate=500,burst_size=200');
});

test('plain OVS: per-port flows below the security-group entries, meter first, DSCP on IPv4 and IPv6', () => {
  assert.deepEqual(portQosOf(5, { maxRate: 10, dscp: 46 }), { meter: 5, dscp: 46 });
  assert.deepEqual(portQosOf(5, { maxRateIn: 10 }), {});
  assert.deepEqual(portQosOf(5, { maxRate: 0, dscp: 0 }), { dscp: 0 });
  assert.deepEqual(renderPortQosFlows(5, {}), []);
  assert.deepEqual(renderPortQosFlows(5, { meter: 5 }), ['cookie=0x6f636e7100000005,table=0,priority=50,in_port=5,actions=meter:5,NORMAL']);
  assert.deepEqual(renderPortQosFlows(5, { meter: 5, dscp: 46 }), [
    'cookie=0x6f636e7100000005,table=0,priority=50,in_port=5,actions=meter:5,NORMAL',
    'cookie=0x6f636e7100000005,table=0,priority=51,ip,in_port=5,actions=meter:5,set_field:46->ip_dscp,NORMAL',
    'cookie=0x6f636e7100000005,table=0,priority=51,ipv6,in_port=5,actions=meter:5,set_field:46->ip_dscp,NORMAL',
  ]);
  assert.deepEqual(renderPortQosFlows(5, { dscp: 8 }).map((f) => f.replace(/^.*actions=/, '')), ['NORMAL', 'set_field:8->ip_dscp,NORMAL', 'set_field:8->ip_dscp,NORMAL']);
  assert.equal(portFlowsBundle(5, ['F1']), 'delete cookie=0x6f636e7100000005/-1\nadd F1\n');
  assert.equal(portFlowsBundle(5, []), 'delete cookie=0x6f636e7100000005/-1\n');
});

test('plain OVS: ingress is one transaction: our old rows out, a linux-htb QoS + Queue on the Port', () => {
  const ops = ingressOps('drv', 'veth1', { maxRateIn: 50 });
  assert.deepEqual(ops.map((o) => `${o.op} ${'table' in o ? o.table : ''}`), ['wait Port', 'delete QoS', 'delete Queue', 'insert Queue', 'insert QoS', 'update Port']);
  const qos = ops.find((o) => o.op === 'insert' && o.table === 'QoS');
  assert.ok(qos && qos.op === 'insert');
  assert.equal(qos.row.type, 'linux-htb');
  assert.equal(qos.row.other_config, undefined, 'the root class stays at link speed');
  const queue = ops.find((o) => o.op === 'insert' && o.table === 'Queue');
  assert.ok(queue && queue.op === 'insert');
  assert.deepEqual(queue.row.other_config, ['map', [['max-rate', '50000000'], ['burst', '20000000']]]);
  const q2 = ingressOps('drv', 'veth1', { maxRateIn: 10, burst: 500 }).find((o) => o.op === 'insert' && o.table === 'Queue');
  assert.ok(q2 && q2.op === 'insert');
  assert.deepEqual(q2.row.other_config, ['map', [['max-rate', '10000000'], ['burst', '500000']]]);
  assert.deepEqual(qos.row.external_ids, ['map', [['ocn-owner', 'drv'], ['ocn-owner-type', 'qos'], ['ocn-qos-port', 'veth1']]]);
  // Deletes touch only rows of this driver and port.
  const del = ops.find((o) => o.op === 'delete');
  assert.ok(del && del.op === 'delete');
  assert.deepEqual(del.where, [['external_ids', 'includes', ['map', [['ocn-owner', 'drv'], ['ocn-owner-type', 'qos'], ['ocn-qos-port', 'veth1']]]]]);
  // Without an ingress limit: only the clearing part (no wait: the Port may be gone).
  assert.deepEqual(ingressOps('drv', 'veth1', { maxRate: 5 }), clearIngressOps('drv', 'veth1'));
  assert.deepEqual(clearIngressOps('drv', 'veth1')[0], { op: 'update', table: 'Port', where: [['name', '==', 'veth1']], row: { qos: ['set', []] } });
});

test('security-group entry flows carry the port\'s meter and DSCP, filtered or not', () => {
  const m = (n: number, groups: string[], o: Partial<SgPortMember> = {}): SgPortMember => ({ endpointId: `ep${n}`.padEnd(64, '0'), networkId: 'n', port: `v${n}`, mac: `0a:58:0a:00:00:0${n}`, ipv4: `10.0.0.${n}`, groups, ofport: n, ...o });
  const g = { name: 'web', tenant: 't', description: '', ingress: [], egress: [] };
  const flows = renderSgFlows({
    bridge: 'br', groups: new Map([['t/web', g]]), groupAddresses: () => ({ ipv4: [], ipv6: [] }),
    networks: [{ networkId: 'n', vlan: 10, otherPorts: [9], members: [m(1, ['t/web'], { meter: 1, dscp: 46 }), m(2, [], { meter: 2 }), m(3, [])] }],
  });
  const t0 = flows.filter((f) => f.includes(',table=0,')).map((f) => f.replace(`cookie=${SG_COOKIE},table=0,`, ''));
  const enter1 = 'set_field:1->reg5,set_field:';
  assert.ok(t0.some((f) => f.startsWith('priority=110,in_port=1,vlan_tci=0x0000/0x1fff,actions=meter:1,' + enter1)), t0.join('\n'));
  assert.ok(t0.some((f) => f.startsWith('priority=111,ip,in_port=1,vlan_tci=0x0000/0x1fff,actions=meter:1,set_field:46->ip_dscp,' + enter1)));
  assert.ok(t0.some((f) => f.startsWith('priority=111,ipv6,in_port=1,vlan_tci=0x0000/0x1fff,actions=meter:1,set_field:46->ip_dscp,' + enter1)));
  assert.ok(t0.some((f) => f.startsWith('priority=100,in_port=2,vlan_tci=0x0000/0x1fff,actions=meter:2,set_field:')));
  assert.ok(t0.some((f) => f.startsWith('priority=100,in_port=2,vlan_tci=0x1000/0x1fff,actions=meter:2,strip_vlan,')));
  assert.ok(t0.some((f) => f.startsWith('priority=100,in_port=3,vlan_tci=0x0000/0x1fff,actions=set_field:')));
  assert.ok(t0.some((f) => f.startsWith('priority=100,in_port=9,vlan_tci=0x0000/0x1fff,actions=set_field:')));
  assert.equal(t0.filter((f) => f.includes('meter:')).length, 5);
  assert.throws(() => renderSgFlows({ bridge: 'br', groups: new Map([['t/web', g]]), groupAddresses: () => ({ ipv4: [], ipv6: [] }), networks: [{ networkId: 'n', vlan: 10, otherPorts: [], members: [m(1, ['t/web'], { dscp: 64 })] }] }), /DSCP 64/);
});

/** A Db over fixed rows, enough for planning. */
function fakeNb(rows: Record<string, Row[]>): Db {
  return { transact: async () => [], rows: (t) => rows[t] ?? [], waitFor: async () => { throw new Error('no'); } };
}

test('OVN: from-lport row (rate, burst, dscp) and to-lport row (rate, burst) for one port', () => {
  assert.deepEqual(qosRowSpecs('ocn-ep1', { maxRate: 50, maxRateIn: 10, dscp: 46 }), [
    { direction: 'from-lport', match: 'inport == "ocn-ep1"', action: { dscp: 46 }, bandwidth: { rate: 50000, burst: 20000 } },
    { direction: 'to-lport', match: 'outport == "ocn-ep1"', action: {}, bandwidth: { rate: 10000, burst: 4000 } },
  ]);
  assert.deepEqual(qosRowSpecs('p', { dscp: 8 }), [{ direction: 'from-lport', match: 'inport == "p"', action: { dscp: 8 }, bandwidth: {} }]);
  assert.deepEqual(qosRowSpecs('p', { maxRateIn: 1, burst: 77 }).map((r) => r.bandwidth), [{ rate: 1000, burst: 77 }]);
  assert.deepEqual(qosRowSpecs('p', {}), []);
});

test('OVN: ops insert what is missing, detach what differs, and are empty when NB agrees', () => {
  const ls = { _uuid: 'ls-1', name: 'sw' } as Row;
  const fresh = setLspQosOps(fakeNb({}), ls, 'p', { maxRate: 50, maxRateIn: 50 });
  assert.deepEqual(fresh.map((o) => o.op), ['insert', 'mutate', 'insert', 'mutate']);
  const ins = fresh[0];
  assert.ok(ins.op === 'insert');
  assert.equal(ins.row.priority, QOS_PRIORITY);
  assert.deepEqual(ins.row.external_ids, ['map', [['ocn-owner', 'ovs-container-network'], ['ocn-owner-type', 'qos'], ['ocn-lsp', 'p']]]);
  const row = (u: string, direction: string, match: string, bandwidth: Record<string, number>, action: Record<string, number> = {}) =>
    ({ _uuid: u, direction, match, priority: QOS_PRIORITY, action, bandwidth, external_ids: nbOwner('qos', { 'ocn-lsp': 'p' }) }) as unknown as Row;
  const have = [row('q1', 'from-lport', 'inport == "p"', { rate: 50000, burst: 20000 }), row('q2', 'to-lport', 'outport == "p"', { rate: 10000, burst: 4000 })];
  const nb = fakeNb({ QoS: have });
  // to-lport changes from 10 to 50: only that row is replaced.
  const change = setLspQosOps(nb, ls, 'p', { maxRate: 50, maxRateIn: 50 });
  assert.deepEqual(change.map((o) => o.op), ['mutate', 'insert', 'mutate']);
  assert.deepEqual(change[0], { op: 'mutate', table: 'Logical_Switch', where: [['qos_rules', 'includes', ['set', [['uuid', 'q2']]]]], mutations: [['qos_rules', 'delete', ['set', [['uuid', 'q2']]]]] });
  assert.deepEqual(setLspQosOps(nb, ls, 'p', { maxRate: 50, maxRateIn: 10 }), []);
  assert.equal(clearLspQosOps(nb, 'p').length, 2);
  assert.deepEqual(clearLspQosOps(nb, 'other'), []);
  // In the port's own creating transaction, the switch may be a named uuid.
  const named = setLspQosOps(fakeNb({}), ['named-uuid', 'newls'], 'p', { dscp: 1 });
  assert.deepEqual(named[1], { op: 'mutate', table: 'Logical_Switch', where: [['_uuid', '==', ['named-uuid', 'newls']]], mutations: [['qos_rules', 'insert', ['set', [['named-uuid', 'qos0']]]]] });
});
