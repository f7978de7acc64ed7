// -o external_ids: keys OVS/OVN act on are reserved, values are printable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetworkOptions } from '../../src/driver/options';

test('external_ids refuses the keys OVS, OVN and the plugin act on', () => {
  for (const k of ['iface-id', 'iface-status', 'attached-mac', 'vm-id', 'ovn-installed', 'ovn-port', 'xs-vif-uuid', 'ocn-owner']) {
    assert.throws(() => parseNetworkOptions({ external_ids: `team=blue,${k}=x` }, false),
      new RegExp(`option external_ids: key "${k}" is reserved \\(OVS, OVN and the plugin act on ocn-\\*, ovn-\\*, xs-\\*, iface-id, iface-status, attached-mac, vm-id\\)`));
  }
});

test('external_ids refuses control characters in values, keeps ordinary keys that merely resemble reserved ones', () => {
  assert.throws(() => parseNetworkOptions({ external_ids: 'team=blue\u0007' }, false), /the value of "team" \("blue\\u0007"\) contains control characters/);
  assert.throws(() => parseNetworkOptions({ external_ids: 'team=a\tb' }, false), /contains control characters/);
  const o = parseNetworkOptions({ external_ids: 'iface-id-note=x,my-ovn-tag=y,vm=z' }, false);
  assert.deepEqual(o.externalIds, { 'iface-id-note': 'x', 'my-ovn-tag': 'y', vm: 'z' });
});
