import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BridgeSgInput, portRangeMasks, renderSgFlows, SG_COOKIE, SG_TABLES, SgNetworkInput, SgPortMember, tpDstMatches, zoneFor } from '../../src/secgroups/ovs-flows';
import { bundleText, diffBundleText } from '../../src/secgroups/ovs-firewall';
import { defaultGroup, SecurityGroup, sgKey } from '../../src/secgroups/model';

function member(n: number, groups: string[], o: Partial<SgPortMember> = {}): SgPortMember {
  return { endpointId: `ep${n}`.padEnd(64, '0'), networkId: 'net1', port: `veth${n}`, mac: `0a:58:0a:00:00:${n.toString(16).padStart(2, '0')}`, ipv4: `10.0.0.${n}`, groups, ofport: n, ...o };
}

function group(name: string, o: Partial<SecurityGroup> = {}): SecurityGroup {
  return { name, tenant: 't', description: '', ingress: [], egress: [], ...o };
}

function bridge(networks: SgNetworkInput[], groups: SecurityGroup[], addrs: Record<string, { ipv4: string[]; ipv6: string[] }> = {}): BridgeSgInput {
  return {
    bridge: 'br-test',
    networks,
    groups: new Map(groups.map((g) => [sgKey(g.tenant, g.name), g])),
    groupAddresses: (k) => addrs[k] ?? { ipv4: [], ipv6: [] },
  };
}

const net = (vlan: number, members: SgPortMember[], o: Partial<SgNetworkInput> = {}): SgNetworkInput => ({ networkId: `n${vlan}`, vlan, members, otherPorts: [], ...o });
const inTable = (flows: string[], table: number) => flows.filter((f) => f.includes(`,table=${table},`));
/** Rule flows of a table (priority 50), without cookie/table/priority/actions. */
const rules = (flows: string[], table: number) => inTable(flows, table).filter((f) => f.includes(',priority=50,')).map((f) => f.replace(/^.*?priority=50,/, '').replace(/,actions=.*$/, ''));

test('port ranges become the fewest prefix masks, exactly covering the range', () => {
  assert.deepEqual(portRangeMasks(80, 80), [{ value: 80, mask: 0xffff }]);
  assert.deepEqual(portRangeMasks(8000, 8003), [{ value: 8000, mask: 0xfffc }]);
  assert.deepEqual(portRangeMasks(0, 65535), [{ value: 0, mask: 0 }]);
  assert.deepEqual(tpDstMatches([1000, 1999]), ['tp_dst=0x03e8/0xfff8', 'tp_dst=0x03f0/0xfff0', 'tp_dst=0x0400/0xfe00', 'tp_dst=0x0600/0xff00', 'tp_dst=0x0700/0xff80', 'tp_dst=0x0780/0xffc0', 'tp_dst=0x07c0/0xfff0']);
  assert.deepEqual(tpDstMatches([22, 22]), ['tp_dst=22']);
  assert.deepEqual(tpDstMatches(undefined), ['']);
  assert.deepEqual(tpDstMatches([1, 65535]), [''], 'every port: no match at all');
  // Exhaustive check on odd ranges: every port in, none out.
  for (const [from, to] of [[1, 65535], [3, 17], [1023, 1025], [32768, 65534], [5, 5], [0, 1]] as [number, number][]) {
    const masks = portRangeMasks(from, to);
    for (let p = 0; p <= 0xffff; p++) {
      const hits = masks.filter(({ value, mask }) => (p & mask) === value).length;
      assert.equal(hits, p >= from && p <= to ? 1 : 0, `port ${p} in ${from}-${to}`);
    }
  }
  assert.throws(() => portRangeMasks(10, 9), RangeError);
});

test('networks without a filtered endpoint produce no flows at all', () => {
  assert.deepEqual(renderSgFlows(bridge([net(10, [member(2, []), member(3, [])], { otherPorts: [1] })], [])), []);
  assert.deepEqual(renderSgFlows(bridge([], [])), []);
  // A filtered member whose port has no ofport yet filters nothing either.
  assert.deepEqual(renderSgFlows(bridge([net(10, [member(2, ['t/web'], { ofport: -1 })])], [group('web')])), []);
});

test('every flow carries our cookie; only the filtered network is diverted; the NORMAL flow is left alone', () => {
  const web = group('web', { ingress: [{ protocol: 'tcp', ports: [80, 80], remote: { cidr: '0.0.0.0/0' } }] });
  const flows = renderSgFlows(bridge([net(10, [member(2, ['t/web']), member(3, [])], { otherPorts: [1], trunkPorts: [7] }), net(20, [member(4, []), member(5, [])])], [web]));
  assert.ok(flows.length > 0);
  for (const f of flows) assert.ok(f.startsWith(`cookie=${SG_COOKIE},table=`), f);
  assert.equal(new Set(flows.map((f) => f.slice(0, f.indexOf(',actions=')))).size, flows.length, 'no two flows with one match');
  const t0 = inTable(flows, 0);
  assert.ok(!t0.some((f) => /priority=0[,]/.test(f)), 'no priority-0 flow in table 0');
  for (const p of [4, 5]) assert.ok(!flows.some((f) => f.includes(`in_port=${p},`) || f.includes(`output:${p}`)), `unfiltered network's port ${p} untouched`);
  assert.ok(!flows.some((f) => f.includes('dl_vlan=20')));
  const zone = zoneFor('br-test', 10);
  assert.ok(t0.includes(`cookie=${SG_COOKIE},table=0,priority=110,in_port=2,vlan_tci=0x0000/0x1fff,actions=set_field:2->reg5,set_field:${zone}->reg6,set_field:1->reg7,resubmit(,${SG_TABLES.egress})`));
  assert.ok(t0.includes(`cookie=${SG_COOKIE},table=0,priority=105,in_port=2,actions=drop`), 'tagged frames of a filtered port are dropped');
  for (const p of [1, 3]) assert.ok(t0.some((f) => f.includes(`in_port=${p},vlan_tci=0x1000/0x1fff,actions=strip_vlan`)), `priority-tagged frames of port ${p} are diverted, not bypassing`);
  assert.ok(t0.some((f) => f.includes('in_port=7,dl_vlan=10,actions=strip_vlan,set_field:2->reg3')), 'the trunk enters tagged and is re-tagged');
  assert.ok(inTable(flows, SG_TABLES.normalOut).some((f) => f.includes('push_vlan:0x8100,set_field:4106->vlan_vid,NORMAL')));
  const flood = inTable(flows, SG_TABLES.flood).find((f) => f.includes(`reg6=${zone}`))!;
  assert.match(flood, /actions=output:3,output:1,clone\(set_field:1->reg3,set_field:2->reg5,set_field:1->reg7,resubmit\(,71\)\),push_vlan:0x8100,set_field:4106->vlan_vid,output:7$/);
  assert.deepEqual(rules(flows, SG_TABLES.ingressRules), ['reg7=1,tcp,tp_dst=80']);
  assert.deepEqual(rules(flows, SG_TABLES.egressRules), [], 'no egress rule: it may open nothing');
});

test('anti-spoofing: egress only from the member\'s MAC and addresses', () => {
  const flows = renderSgFlows(bridge([net(10, [member(2, ['t/g'], { ipv6: 'fd00:0:0:0::2' })])], [group('g')]));
  const eg = inTable(flows, SG_TABLES.egress).filter((f) => f.includes('in_port=2,'));
  assert.ok(eg.some((f) => f.includes('ip,in_port=2,dl_src=0a:58:0a:00:00:02,nw_src=10.0.0.2,actions=ct(table=61,zone=NXM_NX_REG6[0..15])')));
  assert.ok(eg.some((f) => f.includes('ipv6,in_port=2,dl_src=0a:58:0a:00:00:02,ipv6_src=fd00::2,actions=ct(')), 'IPv6 normalised');
  assert.ok(eg.some((f) => f.includes('arp,in_port=2,dl_src=0a:58:0a:00:00:02,arp_sha=0a:58:0a:00:00:02,arp_spa=10.0.0.2,actions=NORMAL')));
  assert.ok(eg.some((f) => f.includes('udp,in_port=2,dl_src=0a:58:0a:00:00:02,nw_src=0.0.0.0,tp_src=68,tp_dst=67,actions=NORMAL')), 'DHCP discover');
  assert.throws(() => renderSgFlows(bridge([net(10, [member(2, ['t/g'], { mac: 'nope' })])], [group('g')])), /endpoint ep2.*MAC "nope" is not valid/);
});

test('a member naming a missing group has no allow rules at all (fail closed)', () => {
  const open = group('open', { ingress: [{ protocol: 'all', remote: { cidr: '0.0.0.0/0' } }], egress: [{ protocol: 'all', remote: { cidr: '0.0.0.0/0' } }] });
  const flows = renderSgFlows(bridge([net(10, [member(2, ['t/open', 't/gone']), member(3, ['t/open'])])], [open]));
  // policies are numbered by their sorted keys: '!deny-all' (member 2) < 't/open' (member 3)
  assert.ok(inTable(flows, 0).some((f) => f.includes('in_port=2,vlan_tci=0x0000/0x1fff,') && f.includes('set_field:1->reg7')));
  assert.ok(inTable(flows, 0).some((f) => f.includes('in_port=3,vlan_tci=0x0000/0x1fff,') && f.includes('set_field:2->reg7')));
  assert.deepEqual(rules(flows, SG_TABLES.ingressRules), ['reg7=2,ip']);
  assert.deepEqual(rules(flows, SG_TABLES.egressRules), ['reg7=2,ip']);
});

test('a remote group expands to its members\' current addresses; icmp is ICMPv4 or ICMPv6 by family', () => {
  const web = group('web', {
    ingress: [
      { protocol: 'tcp', ports: [8000, 8001], remote: { group: 'client' } },
      { protocol: 'icmp', remote: { group: 'client' } },
      { protocol: 'udp', ports: [53, 53], remote: { cidr: '192.0.2.0/24' } },
      { protocol: 'icmp', remote: { cidr: '2001:db8::/32' } },
    ],
    egress: [{ protocol: 'all', remote: { cidr: '::/0' } }, { protocol: 'tcp', ports: [443, 443], remote: { cidr: '198.51.100.7/32' } }],
  });
  const addrs = { 't/client': { ipv4: ['10.0.0.5', '10.0.0.6'], ipv6: ['fd00::5'] } };
  const flows = renderSgFlows(bridge([net(10, [member(2, ['t/web'])])], [web], addrs));
  assert.deepEqual(rules(flows, SG_TABLES.ingressRules), [
    'reg7=1,tcp,nw_src=10.0.0.5,tp_dst=0x1f40/0xfffe',
    'reg7=1,tcp,nw_src=10.0.0.6,tp_dst=0x1f40/0xfffe',
    'reg7=1,tcp6,ipv6_src=fd00::5,tp_dst=0x1f40/0xfffe',
    'reg7=1,icmp,nw_src=10.0.0.5',
    'reg7=1,icmp,nw_src=10.0.0.6',
    'reg7=1,icmp6,ipv6_src=fd00::5',
    'reg7=1,udp,nw_src=192.0.2.0/24,tp_dst=53',
    'reg7=1,icmp6,ipv6_src=2001:db8::/32',
  ]);
  assert.deepEqual(rules(flows, SG_TABLES.egressRules), ['reg7=1,ipv6', 'reg7=1,tcp,nw_dst=198.51.100.7,tp_dst=443']);
  // A CIDR with host bits, or a host written as /32, is the same OVS match as its canonical form.
  const sloppy = group('web', { ingress: [{ protocol: 'udp', remote: { cidr: '192.0.2.77/24' } }, { protocol: 'udp', remote: { cidr: '192.0.2.0/24' } }, { protocol: 'udp', remote: { cidr: '2001:DB8:0:0::1/128' } }] });
  assert.deepEqual(rules(renderSgFlows(bridge([net(10, [member(2, ['t/web'])])], [sloppy])), SG_TABLES.ingressRules), ['reg7=1,udp,nw_src=192.0.2.0/24', 'reg7=1,udp6,ipv6_src=2001:db8::1']);
  // Membership changes: re-rendering with another address set changes only those flows.
  const after = renderSgFlows(bridge([net(10, [member(2, ['t/web'])])], [web], { 't/client': { ipv4: ['10.0.0.6'], ipv6: [] } }));
  assert.ok(!after.some((f) => f.includes('10.0.0.5') || f.includes('fd00::5')));
  // The remote group is the rule's group's tenant's: another tenant's "client" is not looked up.
  const other = renderSgFlows(bridge([net(10, [member(2, ['t/web'])])], [web], { 'u/client': { ipv4: ['10.9.9.9'], ipv6: [] } }));
  assert.ok(!other.some((f) => f.includes('10.9.9.9')));
});

test('members with the same groups share one policy; members of several networks share rule flows', () => {
  const d = defaultGroup('t');
  const flows = renderSgFlows(bridge([net(10, [member(2, ['t/default']), member(3, ['t/default'])]), net(11, [member(4, ['t/default'])])], [d], { 't/default': { ipv4: ['10.0.0.2', '10.0.0.3', '10.0.0.4'], ipv6: [] } }));
  assert.deepEqual(rules(flows, SG_TABLES.ingressRules), ['reg7=1,ip,nw_src=10.0.0.2', 'reg7=1,ip,nw_src=10.0.0.3', 'reg7=1,ip,nw_src=10.0.0.4']);
  assert.deepEqual(rules(flows, SG_TABLES.egressRules), ['reg7=1,ip', 'reg7=1,ipv6']);
  assert.notEqual(zoneFor('br-test', 10), zoneFor('br-test', 11));
  assert.equal(inTable(flows, SG_TABLES.flood).length, 3, 'one flood flow per network, and the default drop');
});

test('zones: 4096-65535, distinct for every VLAN of a bridge, stable, and spread across bridges', () => {
  for (const br of ['br-int', 'br-ocn', 'ocnsg1234']) {
    const zones = new Set<number>();
    for (let v = 0; v <= 4095; v++) {
      const z = zoneFor(br, v);
      assert.ok(z >= 4096 && z <= 65535, `${br}/${v}: ${z}`);
      zones.add(z);
    }
    assert.equal(zones.size, 4096, `${br}: one zone per VLAN`);
  }
  assert.equal(zoneFor('br-int', 100), zoneFor('br-int', 100));
  assert.notEqual(zoneFor('br-a', 100), zoneFor('br-b', 100));
  assert.throws(() => zoneFor('br', 4096), RangeError);
});

test('the bundle deletes only our cookie, then adds the set', () => {
  assert.equal(bundleText(['cookie=X,table=60,priority=0,actions=drop']), `delete cookie=${SG_COOKIE}/-1\nadd cookie=X,table=60,priority=0,actions=drop\n`);
  assert.equal(bundleText([]), `delete cookie=${SG_COOKIE}/-1\n`);
});

test('a diff bundle deletes only flows whose match went, adds only new or changed ones', () => {
  const f = (m: string, a: string) => `cookie=${SG_COOKIE},table=0,priority=100,${m},actions=${a}`;
  const before = [f('in_port=1', 'NORMAL'), f('in_port=2', 'NORMAL'), f('in_port=3', 'drop')];
  const after = [f('in_port=1', 'NORMAL'), f('in_port=3', 'NORMAL'), f('in_port=4', 'NORMAL')];
  assert.deepEqual(diffBundleText(before, after).trim().split('\n'), [
    `delete_strict cookie=${SG_COOKIE}/-1,table=0,priority=100,in_port=2`,
    `add ${f('in_port=3', 'NORMAL')}`,
    `add ${f('in_port=4', 'NORMAL')}`,
  ]);
  assert.equal(diffBundleText(after, after), '', 'nothing changed, nothing sent');
});
