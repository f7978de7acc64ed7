import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignVlan, vlanOf } from '../../src/backends/bridge/vlans';
import type { NetworkRecord } from '../../src/driver/model';
import type { NetworkOptions } from '../../src/driver/options';

let n = 0;
function net(o: Partial<NetworkOptions> = {}): NetworkRecord {
  const id = (++n).toString(16).padStart(64, 'a');
  return { id, options: { bridge: 'br0', externalIds: {}, gateway: 'local', ...o }, datapath: 'netdev', mtu: 1500, internal: false, ipv4: [], ipv6: [], createdBridge: false, createdUplink: false };
}

test('without -o vlan every network on a bridge gets its own VLAN, counted down from 4094', () => {
  const a = net();
  const b = net();
  assignVlan(a, []);
  assignVlan(b, [a]);
  assert.deepEqual([vlanOf(a), vlanOf(b)], [4094, 4093]);
  assert.ok(a.autoVlan && b.autoVlan);
  const other = net({ bridge: 'br1' });
  assignVlan(other, [a, b]);
  assert.equal(vlanOf(other), 4094, 'another bridge is another switch');
});

test('an explicit VLAN that another network holds is refused, naming it (explicit or picked)', () => {
  const auto = net();
  assignVlan(auto, []);
  assert.throws(() => assignVlan(net({ vlan: 4094 }), [auto]), new RegExp(`VLAN 4094 on bridge br0 is already used by network ${auto.id.slice(0, 12)} \\(picked automatically for it\\)`));
  const hundred = net({ vlan: 100 });
  assignVlan(hundred, [auto]);
  assert.throws(() => assignVlan(net({ vlan: 100 }), [auto, hundred]), /option vlan: VLAN 100 on bridge br0 is already used by network/);
  const picked = net();
  assignVlan(picked, [auto, hundred]);
  assert.equal(vlanOf(picked), 4093, 'automatic picks skip explicit and automatic VLANs alike');
});

test('a network leaving through an uplink without -o vlan is untagged (VLAN 0), once per bridge', () => {
  const a = net({ gateway: 'external', uplink: 'eth1' });
  assignVlan(a, []);
  assert.equal(vlanOf(a), 0);
  assert.equal(a.autoVlan, undefined);
  assert.throws(() => assignVlan(net({ gateway: 'external', uplink: 'eth1' }), [a]), /untagged traffic \(VLAN 0\) on bridge br0 is already used/);
});
