// NB rows found through the owner index: what the plugin removes or reuses is only ever its own,
// never a user's row that merely looks like one (same name prefix, same keys, no owner ids).
import { test } from 'node:test';
import { ids, nbWith } from '../harness/nb-cache';
import assert from 'node:assert/strict';
import * as ops from '../../src/ovsdb/ops';
import { KEY, nbOwner } from '../../src/model/owner-ids';
import { disconnectSwitchOps } from '../../src/ovn/logical-router';
import { findDhcp } from '../../src/ovn/dhcp-options';
import { ownedLbs } from '../../src/ovn/gateway';


test("a router's last switch takes the router, its external switch and load balancers, never a user's look-alikes", () => {
  const nb = nbWith({
    Logical_Router: { lr: { initial: { name: 'ocn-t', ports: ops.set(ops.uuid('lrp')), external_ids: ids(nbOwner('router')) } } },
    Logical_Router_Port: { lrp: { initial: { name: 'ocn-lrp-sw1', mac: '0a:00:00:00:00:01', networks: ops.set('10.0.0.1/24'), external_ids: ids(nbOwner('router-port', { [KEY.switch]: 'sw1' })) } } },
    Logical_Switch: {
      ext: { initial: { name: 'ocn-ext-ocn-t', external_ids: ids(nbOwner('switch', { [KEY.externalOf]: 'ocn-t' })) } },
      userExt: { initial: { name: 'user-ext', external_ids: ids({ [KEY.externalOf]: 'ocn-t' }) } },
    },
    Load_Balancer: {
      lbTcp: { initial: { name: 'ocn-lb-ocn-t-tcp', protocol: 'tcp', external_ids: ids(nbOwner('nat')) } },
      lbUser: { initial: { name: 'ocn-lb-ocn-t-udp', protocol: 'udp', external_ids: ids({ team: 'blue' }) } },
    },
  });
  const deleted = disconnectSwitchOps(nb, 'sw1').flatMap((op) => (op.op === 'delete' ? [`${op.table} ${JSON.stringify(op.where[0][2])}`] : []));
  assert.deepEqual(deleted.sort(), ['Load_Balancer ["uuid","lbTcp"]', 'Logical_Router ["uuid","lr"]', 'Logical_Switch ["uuid","ext"]']);
  assert.deepEqual(ownedLbs(nb, 'ocn-t').map((r) => r.name), ['ocn-lb-ocn-t-tcp']);
});

test("a switch's DHCP options are ours only: a user's row with the same key is not reused", () => {
  const user = nbWith({ DHCP_Options: { d1: { initial: { cidr: '10.0.0.0/24', external_ids: ids({ [KEY.switch]: 'sw1' }) } } } });
  assert.equal(findDhcp(user, 'sw1'), undefined);
  const ours = nbWith({ DHCP_Options: { d1: { initial: { cidr: '10.0.0.0/24', external_ids: ids(nbOwner('dhcp', { [KEY.switch]: 'sw1' })) } } } });
  assert.equal(findDhcp(ours, 'sw1')?._uuid, 'd1');
  assert.equal(findDhcp(ours, 'sw2'), undefined);
});
