import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetworkOptions, OPTION_DOCS, MTU_KEY } from '../../src/driver/options';

test('defaults: br-int, gateway local, no vlan', () => {
  const o = parseNetworkOptions(undefined, false);
  assert.deepEqual(o, { bridge: 'br-int', externalIds: {}, gateway: 'local', mtu: undefined });
});

test('every documented option parses', () => {
  const o = parseNetworkOptions({
    bridge: 'br-test', datapath: 'netdev', vlan: '100', mtu: '1400', tenant_id: 't-1',
    external_ids: 'team=blue, app=web', gateway: 'external', uplink: 'eth1',
  }, false);
  assert.equal(o.bridge, 'br-test');
  assert.equal(o.datapath, 'netdev');
  assert.equal(o.vlan, 100);
  assert.equal(o.mtu, 1400);
  assert.equal(o.tenantId, 't-1');
  assert.deepEqual(o.externalIds, { team: 'blue', app: 'web' });
  assert.equal(o.gateway, 'external');
  assert.equal(o.uplink, 'eth1');
});

test("Docker's mtu key is honoured and agrees with mtu", () => {
  assert.equal(parseNetworkOptions({ [MTU_KEY]: '1450' }, false).mtu, 1450);
  assert.equal(parseNetworkOptions({ [MTU_KEY]: '1450', mtu: '1450' }, false).mtu, 1450);
  assert.throws(() => parseNetworkOptions({ [MTU_KEY]: '1450', mtu: '1400' }, false), /mtu=1400 and com.docker.network.driver.mtu=1450 conflict/);
});

const bad: [Record<string, string>, boolean, RegExp][] = [
  [{ vlan: '5000' }, false, /option vlan: "5000" is not valid; accepted: 1-4094/],
  [{ vlan: '0' }, false, /option vlan/],
  [{ vlan: 'ten' }, false, /option vlan: "ten"/],
  [{ mtu: '10' }, false, /option mtu: "10" is not valid; accepted: 68-65535/],
  [{ mtu: '1200' }, true, /1280 or more on an IPv6 network/],
  [{ mtu: '70000' }, false, /option mtu/],
  [{ bridge: 'this-name-is-too-long' }, false, /option bridge: "this-name-is-too-long" is not a valid interface name/],
  [{ bridge: 'br/0' }, false, /option bridge/],
  [{ datapath: 'kernel' }, false, /option datapath: "kernel" is not valid; accepted: system \| netdev/],
  [{ gateway: 'none' }, false, /accepted: local \| external/],
  [{ uplink: 'eth1' }, false, /uplink and gateway=local conflict/],
  [{ uplink: 'br-int', gateway: 'external' }, false, /uplink and bridge conflict/],
  [{ tenant_id: 'a b' }, false, /option tenant_id/],
  [{ external_ids: 'novalue' }, false, /option external_ids/],
  [{ external_ids: 'ocn-owner=x' }, false, /reserved/],
  [{ colour: 'blue' }, false, /unknown option "colour"; known options: bridge, datapath, vlan/],
];
for (const [opts, v6, re] of bad) {
  test(`rejects ${JSON.stringify(opts)}`, () => assert.throws(() => parseNetworkOptions(opts, v6), re));
}

test('the unknown-option error lists every known option', () => {
  try {
    parseNetworkOptions({ nope: '1' }, false);
    assert.fail('expected an error');
  } catch (err) {
    for (const d of OPTION_DOCS) assert.match(String(err), new RegExp(d.key.replace(/\./g, '\\.')));
  }
});
