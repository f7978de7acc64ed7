// Pure decisions for plain networks on OVN chassis: the default bridge and the tunnels' UDP ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plainNetworkBridge } from '../../src/backends/bridge/plain-bridge';
import { parseDaemonConfig } from '../../src/config';

const chassis = { 'ovn-remote': 'tcp:10.0.0.1:6642', 'ovn-bridge': 'br-int' };

test('plain networks: br-int off a chassis, br-ocn on one; the integration bridge is refused', () => {
  assert.equal(plainNetworkBridge(undefined, {}), 'br-int');
  assert.equal(plainNetworkBridge('br-int', {}), 'br-int', 'not a chassis: br-int is an ordinary bridge');
  assert.equal(plainNetworkBridge(undefined, chassis), 'br-ocn');
  assert.equal(plainNetworkBridge('br-x', chassis), 'br-x');
  assert.throws(() => plainNetworkBridge('br-int', chassis), /option bridge: "br-int" is OVN's integration bridge.*ovn\.switch=<name>.*br-ocn/);
  assert.throws(() => plainNetworkBridge('br-int', { 'ovn-remote': 'x' }), /integration bridge/, 'ovn-bridge unset: OVN uses br-int');
  const custom = { 'ovn-remote': 'x', 'ovn-bridge': 'br-ovn' };
  assert.equal(plainNetworkBridge('br-int', custom), 'br-int', 'br-int is free when OVN uses another bridge');
  assert.throws(() => plainNetworkBridge('br-ovn', custom), /"br-ovn" is OVN's integration bridge/);
  assert.equal(plainNetworkBridge(undefined, { 'ovn-remote': 'x', 'ovn-bridge': 'br-ocn' }), 'br-int', 'never the integration bridge');
});

test('overlay UDP ports: defaults apart from OVN\'s, flags checked, the two types apart', () => {
  const c = parseDaemonConfig([], {});
  assert.equal(c.overlayGenevePort, 6082);
  assert.equal(c.overlayVxlanPort, 4792);
  assert.equal(parseDaemonConfig(['--overlay-geneve-port', '7000'], { OCN_OVERLAY_VXLAN_PORT: '7001' }).overlayVxlanPort, 7001);
  assert.throws(() => parseDaemonConfig(['--overlay-vxlan-port', '0'], {}), /--overlay-vxlan-port: "0" must be an integer 1-65535/);
  assert.throws(() => parseDaemonConfig(['--overlay-geneve-port', '4792'], {}), /both are 4792; the two tunnel types need different UDP ports/);
});
