// Security groups as OVN ACLs: the match strings a group's rules become (ranges, ICMP per address
// family, remote groups through the port group's own address sets, fail-closed where a rule has
// nothing to match), and the NB operations planned on a cache holding our rows and a user's.
import { test } from 'node:test';
import { ids, nbWith } from '../harness/nb-cache';
import assert from 'node:assert/strict';
import type { TableUpdates2 } from '../../src/ovsdb/cache';
import * as ops from '../../src/ovsdb/ops';
import type { Operation } from '../../src/ovsdb/types';
import type { Db } from '../../src/ovs/db';
import { nbOwner } from '../../src/model/owner-ids';
import { type SecurityGroup, groupView, parseGroup, sgKey } from '../../src/secgroups/model';
import {
  aclMatches, deleteGroupOps, DROP_PG, dropGroupAcls, findGroup, groupMembers, listGroups, pgName, SG_IDS, SG_PRIORITY, setMembershipOps, upsertGroupOps,
} from '../../src/ovn/port-group';

const group = (p: Record<string, unknown>): SecurityGroup => parseGroup({ name: 'web', tenant: 't1', ...p });
const PG_WEB = pgName(sgKey('t1', 'web'));
const PG_DB = pgName(sgKey('t1', 'db'));
const matches = (g: SecurityGroup) => aclMatches(g).map((a) => `${a.direction} ${a.match}`);

test('pgName: an OVN identifier, stable, distinct per tenant and name', () => {
  assert.match(PG_WEB, /^ocn_sg_[0-9a-f]{20}$/);
  assert.equal(pgName('t1/web'), PG_WEB);
  assert.notEqual(pgName('t2/web'), PG_WEB);
  assert.notEqual(pgName('/web'), PG_WEB);
  assert.notEqual(PG_WEB, DROP_PG);
});

test('tcp and udp port ranges: a single port is ==, a range is >= and <=, no ports is any port', () => {
  const g = group({ ingress: [{ protocol: 'tcp', ports: '80', remote: '10.0.0.0/8' }, { protocol: 'tcp', ports: '8000-8100' }], egress: [{ protocol: 'udp', remote: '192.0.2.7' }] });
  assert.deepEqual(matches(g), [
    `from-lport inport == @${PG_WEB} && ip4 && ip4.dst == 192.0.2.7/32 && udp`,
    `to-lport outport == @${PG_WEB} && ip4 && ip4.src == 10.0.0.0/8 && tcp && tcp.dst == 80`,
    `to-lport outport == @${PG_WEB} && ip4 && tcp && tcp.dst >= 8000 && tcp.dst <= 8100`,
  ]);
  for (const a of aclMatches(g)) {
    assert.equal(a.action, 'allow-related', 'replies to allowed connections pass');
    assert.equal(a.priority, SG_PRIORITY.allow);
  }
});

test('icmp is icmp4 for IPv4 remotes and icmp6 for IPv6 ones; "all" is the whole family; /0 has no address test', () => {
  const g = group({ ingress: [{ protocol: 'icmp', remote: '0.0.0.0/0' }, { protocol: 'icmp', remote: '2001:db8::/32' }], egress: [{ protocol: 'all', remote: '::/0' }] });
  assert.deepEqual(matches(g), [
    `from-lport inport == @${PG_WEB} && ip6`,
    `to-lport outport == @${PG_WEB} && ip4 && icmp4`,
    `to-lport outport == @${PG_WEB} && ip6 && ip6.src == 2001:db8::/32 && icmp6`,
  ]);
});

test("a remote group matches its port group's address sets, one ACL per family", () => {
  const g = group({ ingress: [{ protocol: 'tcp', ports: '5432', remote: { group: 'db' } }, { protocol: 'icmp', remote: { group: 'web' } }] });
  assert.deepEqual(matches(g), [
    `to-lport outport == @${PG_WEB} && ip4 && ip4.src == $${PG_DB}_ip4 && tcp && tcp.dst == 5432`,
    `to-lport outport == @${PG_WEB} && ip6 && ip6.src == $${PG_DB}_ip6 && tcp && tcp.dst == 5432`,
    `to-lport outport == @${PG_WEB} && ip4 && ip4.src == $${PG_WEB}_ip4 && icmp4`,
    `to-lport outport == @${PG_WEB} && ip6 && ip6.src == $${PG_WEB}_ip6 && icmp6`,
  ]);
  const egress = aclMatches(group({ egress: [{ protocol: 'udp', ports: '53', remote: { group: 'db' } }] }));
  assert.deepEqual(egress.map((a) => a.match), [`inport == @${PG_WEB} && ip4 && ip4.dst == $${PG_DB}_ip4 && udp && udp.dst == 53`, `inport == @${PG_WEB} && ip6 && ip6.dst == $${PG_DB}_ip6 && udp && udp.dst == 53`]);
});

test('fail-closed: an unresolved remote group allows nothing, a group without rules has no allow ACL', () => {
  const g = group({ ingress: [{ protocol: 'all', remote: { group: 'ghost' } }, { protocol: 'tcp', ports: '22', remote: '10.0.0.0/8' }] });
  assert.deepEqual(aclMatches(g, () => undefined).map((a) => a.match), [`outport == @${PG_WEB} && ip4 && ip4.src == 10.0.0.0/8 && tcp && tcp.dst == 22`]);
  assert.deepEqual(aclMatches(group({})), []);
  assert.throws(() => aclMatches(g, () => 'bad name'), /not an OVN identifier/);
});

test('identical rules make one ACL', () => {
  const g = group({ ingress: [{ protocol: 'tcp', ports: '80' }, { protocol: 'tcp', ports: '80-80' }] });
  assert.equal(aclMatches(g).length, 1);
});

test('the drop group drops IP both ways below the allow ACLs, and lets DHCP and ND through', () => {
  const acls = dropGroupAcls();
  const drops = acls.filter((a) => a.action === 'drop');
  assert.deepEqual(drops.map((a) => `${a.direction} ${a.priority} ${a.match}`), [`from-lport 1001 inport == @${DROP_PG} && ip`, `to-lport 1001 outport == @${DROP_PG} && ip`]);
  const allows = acls.filter((a) => a.action !== 'drop');
  assert.ok(allows.every((a) => a.priority > SG_PRIORITY.drop));
  assert.ok(allows.some((a) => a.direction === 'from-lport' && /udp.src == 68 && udp.dst == 67/.test(a.match)), 'DHCPv4 requests');
  assert.ok(allows.some((a) => a.direction === 'to-lport' && /udp.src == 67 && udp.dst == 68/.test(a.match)), 'DHCPv4 replies');
  for (const dir of ['from-lport', 'to-lport']) assert.ok(allows.some((a) => a.direction === dir && /icmp6.type == \{133, 134, 135, 136\}/.test(a.match)), `ND ${dir}`);
});

// ------------------------------------------------------------------ operations on a cache

const writes = (o: Operation[]) => o.filter((op) => op.op !== 'wait').map((op) => `${op.op} ${'table' in op ? op.table : ''}`);

/** NB holding `g` as upsertGroupOps makes it (drop group with its ACLs, g's port group with its ACLs). */
function nbHolding(g: SecurityGroup, extra: TableUpdates2 = {}, moreAcls: string[] = []): Db {
  const key = sgKey(g.tenant, g.name);
  const acl: TableUpdates2['ACL'] = {};
  const aclOf = (prefix: string, list: ReturnType<typeof aclMatches>, owner: Record<string, string>) => list.map((a, i) => {
    acl[`${prefix}${i}`] = { initial: { direction: a.direction, priority: a.priority, action: a.action, match: a.match, external_ids: ids(nbOwner('acl', owner)) } };
    return ops.uuid(`${prefix}${i}`);
  });
  const dropAcls = aclOf('dacl', dropGroupAcls(), { [SG_IDS.drop]: '1' });
  const gAcls = aclOf('gacl', aclMatches(g), { [SG_IDS.key]: key });
  return nbWith({
    ...extra,
    ACL: { ...acl, ...extra.ACL },
    Port_Group: {
      drop: { initial: { name: DROP_PG, acls: ops.set(...dropAcls), ports: ops.set(ops.uuid('lsp1')), external_ids: ids(nbOwner('security-group', { [SG_IDS.drop]: '1' })) } },
      pg: { initial: { name: pgName(key), acls: ops.set(...gAcls, ...moreAcls.map(ops.uuid)), ports: ops.set(ops.uuid('lsp1')), external_ids: ids(nbOwner('security-group', { [SG_IDS.key]: key, [SG_IDS.tenant]: g.tenant, [SG_IDS.definition]: JSON.stringify(groupView(g)) })) } },
      ...extra.Port_Group,
    },
    Logical_Switch_Port: { lsp1: { initial: { name: 'ocn-ep1' } }, lsp2: { initial: { name: 'ocn-ep2' } }, ...extra.Logical_Switch_Port },
  });
}

test('upsert on an empty NB: the drop group, the group, and an empty placeholder for the remote group it names', () => {
  const g = group({ ingress: [{ protocol: 'tcp', ports: '80', remote: { group: 'db' } }] });
  const plan = upsertGroupOps(nbWith({}), g);
  const pgs = plan.flatMap((op) => (op.op === 'insert' && op.table === 'Port_Group' ? [op.row.name] : []));
  assert.deepEqual(pgs, [DROP_PG, PG_DB, PG_WEB]);
  assert.equal(plan.filter((op) => op.op === 'insert' && op.table === 'ACL').length, dropGroupAcls().length + 2);
  for (const name of pgs) assert.ok(plan.some((op) => op.op === 'wait' && op.table === 'Port_Group' && JSON.stringify(op.where) === JSON.stringify([['name', '==', name]]) && op.rows.length === 0), `absent guard for ${name}`);
});

test('upsert of what NB holds is nothing; a changed rule inserts only the new ACL and drops only the old one', () => {
  const g = group({ ingress: [{ protocol: 'tcp', ports: '80' }, { protocol: 'tcp', ports: '443' }] });
  const nb = nbHolding(g);
  assert.deepEqual(upsertGroupOps(nb, g), []);
  assert.equal(findGroup(nb, 't1/web')?.ingress.length, 2);
  const changed = group({ ingress: [{ protocol: 'tcp', ports: '80' }, { protocol: 'tcp', ports: '8443' }] });
  const plan = upsertGroupOps(nb, changed);
  assert.deepEqual(writes(plan), ['insert ACL', 'mutate Port_Group']);
  const mutate = plan.find((op) => op.op === 'mutate')!;
  assert.equal(JSON.stringify(mutate.op === 'mutate' && mutate.mutations.filter((m) => m[0] === 'acls')), JSON.stringify([['acls', 'delete', ['set', [['uuid', 'gacl1']]]], ['acls', 'insert', ['set', [['named-uuid', 'sg_pg_acl0']]]]]));
  assert.ok(plan[0].op === 'wait' && plan[0].columns.includes('acls'), 'guarded against a concurrent change of the group');
});

test("a user's ACL on our port group and a user's port group of our name are never ours to change", () => {
  const g = group({ ingress: [{ protocol: 'tcp', ports: '80' }] });
  const key = sgKey('t1', 'web');
  const nb = nbHolding(g, { ACL: { user: { initial: { direction: 'to-lport', priority: 2000, action: 'drop', match: 'ip', external_ids: ids({}) } } } }, ['user']);
  const plan = upsertGroupOps(nb, group({ ingress: [] }));
  const dels = plan.flatMap((op) => (op.op === 'mutate' ? op.mutations.filter((m) => m[0] === 'acls') : []));
  assert.equal(JSON.stringify(dels), JSON.stringify([['acls', 'delete', ['set', [['uuid', 'gacl0']]]]]));
  const foreign = nbWith({ Port_Group: { u: { initial: { name: pgName(key), external_ids: ids({ team: 'x' }) } } } });
  assert.throws(() => upsertGroupOps(foreign, g), /not this group's/);
  assert.equal(findGroup(foreign, key), undefined);
  assert.deepEqual(listGroups(foreign), []);
});

test('stored definitions read back; placeholders and hand-edited rows are not groups', () => {
  const g = group({ description: 'web tier', ingress: [{ protocol: 'tcp', ports: '80-81', remote: { group: 'db' } }] });
  const nb = nbHolding(g, {
    Port_Group: {
      ph: { initial: { name: PG_DB, external_ids: ids(nbOwner('security-group', { [SG_IDS.key]: 't1/db', [SG_IDS.tenant]: 't1' })) } },
      bad: { initial: { name: pgName('t1/bad'), external_ids: ids(nbOwner('security-group', { [SG_IDS.key]: 't1/bad', [SG_IDS.definition]: '{"name":"bad","ingress":[{"remote":"not-a-cidr"}]}' })) } },
    },
  });
  assert.deepEqual(listGroups(nb), [g]);
  assert.equal(findGroup(nb, 't1/db'), undefined);
  assert.deepEqual(groupMembers(nb, 't1/web'), ['ocn-ep1']);
});

test('membership: joining adds the port to the group and the drop group at once; leaving the last group leaves the drop group', () => {
  const g = group({});
  const nb = nbHolding(g, { Port_Group: { db: { initial: { name: PG_DB, external_ids: ids(nbOwner('security-group', { [SG_IDS.key]: 't1/db', [SG_IDS.tenant]: 't1', [SG_IDS.definition]: JSON.stringify(groupView(group({ name: 'db' }))) })) } } } });
  const lsp2 = [...nb.rows('Logical_Switch_Port')].find((r) => r._uuid === 'lsp2')!;
  const join = setMembershipOps(nb, lsp2, ['t1/web', 't1/db'], []);
  const targets = join.flatMap((op) => (op.op === 'mutate' ? [`${JSON.stringify(op.where[0][2])} ${op.mutations[0][1]}`] : []));
  assert.deepEqual(targets, ['["uuid","pg"] insert', '["uuid","db"] insert', '["uuid","drop"] insert']);
  assert.equal(join.filter((op) => op.op === 'wait').length, 3, 'each group must still exist at commit');
  const lsp1 = [...nb.rows('Logical_Switch_Port')].find((r) => r._uuid === 'lsp1')!;
  assert.deepEqual(setMembershipOps(nb, lsp1, ['t1/web'], ['t1/web']), [], 'already a member');
  const leave = setMembershipOps(nb, lsp1, [], ['t1/web']).map((op) => op.op === 'mutate' && `${JSON.stringify(op.where[0][2])} ${op.mutations[0][1]}`);
  assert.deepEqual(leave, ['["uuid","pg"] delete', '["uuid","drop"] delete']);
  assert.throws(() => setMembershipOps(nb, lsp1, ['t1/nope'], []), /does not exist/);
  const fresh = setMembershipOps(nbWith({ Port_Group: { pg: { initial: { name: PG_WEB, external_ids: ids(nbOwner('security-group', { [SG_IDS.key]: 't1/web', [SG_IDS.tenant]: 't1', [SG_IDS.definition]: JSON.stringify(groupView(g)) })) } } } }), ops.namedUuid('newlsp'), ['t1/web'], []);
  assert.ok(fresh.some((op) => op.op === 'insert' && op.table === 'Port_Group' && op.row.name === DROP_PG), 'a missing drop group is made');
});

test('delete: the port group goes (its ACLs with it); one still referred to stays an empty placeholder', () => {
  const web = group({});
  const nb = nbHolding(web);
  const plan = deleteGroupOps(nb, 't1/web');
  assert.deepEqual(writes(plan), ['delete Port_Group'], 'the drop group still has a member');
  assert.deepEqual(deleteGroupOps(nb, 't1/none'), []);
  const api = group({ name: 'api', ingress: [{ protocol: 'all', remote: { group: 'web' } }] });
  const referred = nbHolding(web, { Port_Group: { api: { initial: { name: pgName('t1/api'), external_ids: ids(nbOwner('security-group', { [SG_IDS.key]: 't1/api', [SG_IDS.tenant]: 't1', [SG_IDS.definition]: JSON.stringify(groupView(api)) })) } } } });
  const keep = deleteGroupOps(referred, 't1/web');
  assert.deepEqual(writes(keep), ['update Port_Group', 'mutate Port_Group']);
  const lone = nbWith({
    Port_Group: {
      drop: { initial: { name: DROP_PG, external_ids: ids(nbOwner('security-group', { [SG_IDS.drop]: '1' })) } },
      pg: { initial: { name: PG_WEB, external_ids: ids(nbOwner('security-group', { [SG_IDS.key]: 't1/web', [SG_IDS.tenant]: 't1', [SG_IDS.definition]: JSON.stringify(groupView(web)) })) } },
    },
  });
  const last = deleteGroupOps(lone, 't1/web');
  assert.deepEqual(writes(last), ['delete Port_Group', 'delete Port_Group'], 'the last group takes the empty drop group');
  assert.ok(last.slice(0, 3).every((op) => op.op === 'wait'), 'guards come before the deletes they protect');
});
