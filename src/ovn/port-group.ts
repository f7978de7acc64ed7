// Security groups in OVN Northbound. One Port_Group per group holds its members' logical ports and
// one allow-related ACL per rule, address family and direction. One shared drop group holds every
// port that is in any group; its lower-priority ACLs drop whatever IP traffic no allow ACL matched,
// and let DHCP and IPv6 ND through. A group's Port_Group row also stores its definition
// (external_ids), so every host reads the same groups from NB, and the row that enforces a
// definition is the row that carries it. A remote-group rule matches the address sets that
// ovn-northd derives from a port group ($<pg>_ip4, $<pg>_ip6), so membership changes never
// rewrite an ACL.
//
// A rule may name a group that is not defined (yet). Its port group is then made as an empty
// placeholder: the match stays valid OVN, and it matches nobody until that group gets members
// (an empty address set matches nothing: fail-closed). Defining the group later fills the
// placeholder in, so the rules that refer to it need no rewrite. A placeholder is deleted as soon
// as no definition refers to it, and a deleted group that is still referred to becomes one.
import { createHash } from 'node:crypto';
import type { Condition, Operation, WireRow } from '../ovsdb/types';
import type { Db } from '../ovs/db';
import type { ACLRow } from '../model/ovn-nb';
import { OWNER, OWNER_TYPE, PRODUCT, nbOwned, nbOwner } from '../model/owner-ids';
import { byUuid, deleteRefs, insertRefs, map, mapDelete, mapPut, named, set, uuid } from '../ovs/wire';
import { ConflictError } from '../util/errors';
import { type SecurityGroup, type SgRule, SgError, groupView, parseGroup, referencedGroups, sgKey, splitSgKey } from '../secgroups/model';
import { type NbRow, nbByName, nbOwnedRows, nbRows } from './nb';
import { absentOp, presentOp, type RowRef } from './txn';
import { LSP } from './logical-switch-port';

export const PG = 'Port_Group';
export const ACL = 'ACL';
/** The port group of every port that is in some group: its ACLs drop what no group allows. */
export const DROP_PG = 'ocn_sg_drop';
/** Allow ACLs above the drop ACLs: the first matching ACL of the highest priority decides. */
export const SG_PRIORITY = { drop: 1001, allow: 1002 } as const;

/** Keys our Port_Group and ACL rows carry beside the owner ids. */
export const SG_IDS = {
  /** The group's key (sgKey): on its Port_Group (defined or placeholder) and on its ACLs. */
  key: 'ocn-sg',
  tenant: 'ocn-sg-tenant',
  /** The definition as the API shows it (groupView), JSON; absent on a placeholder. */
  definition: 'ocn-sg-def',
  /** '1' on the drop group and its ACLs. */
  drop: 'ocn-sg-drop',
} as const;

type PgRow = NbRow<'Port_Group'>;

export interface AclSpec {
  direction: ACLRow['direction'];
  priority: number;
  action: ACLRow['action'];
  match: string;
}

/** A valid OVN identifier (usable as @name and $name_ip4) that no group key can forge. */
export function pgName(key: string): string {
  return `ocn_sg_${createHash('sha256').update(key).digest('hex').slice(0, 20)}`;
}

// ------------------------------------------------------------------ matches (pure)

type Family = 'ip4' | 'ip6';
/** The other end of a rule in one family; no `addr`: any address of that family. */
type RemoteMatch = { family: Family; addr?: string };

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function remotesOf(rule: SgRule, resolveGroupPg: (name: string) => string | undefined): RemoteMatch[] {
  if ('cidr' in rule.remote) {
    const cidr = rule.remote.cidr;
    const family: Family = cidr.includes(':') ? 'ip6' : 'ip4';
    return [{ family, addr: cidr.endsWith('/0') ? undefined : cidr }];
  }
  const pg = resolveGroupPg(rule.remote.group);
  // No port group: the rule allows nothing rather than anything.
  if (pg === undefined) return [];
  if (!IDENTIFIER.test(pg)) throw new Error(`port group name ${JSON.stringify(pg)} is not an OVN identifier`);
  return [{ family: 'ip4', addr: `$${pg}_ip4` }, { family: 'ip6', addr: `$${pg}_ip6` }];
}

function protocolMatch(rule: SgRule, family: Family): string[] {
  switch (rule.protocol) {
    case 'tcp':
    case 'udp': {
      if (!rule.ports) return [rule.protocol];
      const [from, to] = rule.ports;
      const field = `${rule.protocol}.dst`;
      return from === to ? [rule.protocol, `${field} == ${from}`] : [rule.protocol, `${field} >= ${from}`, `${field} <= ${to}`];
    }
    case 'icmp':
      return [family === 'ip4' ? 'icmp4' : 'icmp6'];
    case 'all':
      return [];
  }
}

/**
 * The allow ACLs of a group: egress rules match what a member sends (from-lport, inport, the
 * remote as destination), ingress rules what a member receives (to-lport, outport, the remote as
 * source). `resolveGroupPg` names the port group of a remote group (same tenant); undefined drops
 * the rule (fail-closed). Identical matches are made once.
 */
export function aclMatches(group: SecurityGroup, resolveGroupPg: (name: string) => string | undefined = (n) => pgName(sgKey(group.tenant, n))): AclSpec[] {
  const pg = pgName(sgKey(group.tenant, group.name));
  const out = new Map<string, AclSpec>();
  const sides = [
    { rules: group.egress, direction: 'from-lport', port: `inport == @${pg}`, field: 'dst' },
    { rules: group.ingress, direction: 'to-lport', port: `outport == @${pg}`, field: 'src' },
  ] as const;
  for (const side of sides) {
    for (const rule of side.rules) {
      for (const remote of remotesOf(rule, resolveGroupPg)) {
        const parts: string[] = [side.port, remote.family];
        if (remote.addr) parts.push(`${remote.family}.${side.field} == ${remote.addr}`);
        parts.push(...protocolMatch(rule, remote.family));
        const acl: AclSpec = { direction: side.direction, priority: SG_PRIORITY.allow, action: 'allow-related', match: parts.join(' && ') };
        out.set(aclKey(acl), acl);
      }
    }
  }
  return [...out.values()];
}

/** The drop group's ACLs: IP is dropped both ways; DHCP (v4, v6) and ND pass. */
export function dropGroupAcls(): AclSpec[] {
  const from = (match: string, action: ACLRow['action'], priority: number): AclSpec => ({ direction: 'from-lport', priority, action, match: `inport == @${DROP_PG} && ${match}` });
  const to = (match: string, action: ACLRow['action'], priority: number): AclSpec => ({ direction: 'to-lport', priority, action, match: `outport == @${DROP_PG} && ${match}` });
  // RFC 4861: ND messages carry hop limit 255, so a routed packet never passes as one.
  const nd = 'icmp6 && icmp6.type == {133, 134, 135, 136} && icmp6.code == 0 && ip.ttl == 255';
  return [
    from('ip', 'drop', SG_PRIORITY.drop),
    to('ip', 'drop', SG_PRIORITY.drop),
    // A DHCP server (OVN's own, or one on the switch) answers clients before they have a lease.
    from('ip4 && udp && udp.src == 68 && udp.dst == 67', 'allow', SG_PRIORITY.allow),
    to('ip4 && udp && udp.src == 67 && udp.dst == 68', 'allow', SG_PRIORITY.allow),
    from('ip6 && udp && udp.src == 546 && udp.dst == 547', 'allow', SG_PRIORITY.allow),
    to('ip6 && udp && udp.src == 547 && udp.dst == 546', 'allow', SG_PRIORITY.allow),
    from(nd, 'allow', SG_PRIORITY.allow),
    to(nd, 'allow', SG_PRIORITY.allow),
  ];
}

function aclKey(a: Pick<AclSpec, 'direction' | 'priority' | 'action' | 'match'>): string {
  return `${a.direction}|${a.priority}|${a.action}|${a.match}`;
}

// ------------------------------------------------------------------ reading

const byName = (name: string): Condition[] => [['name', '==', name]];

function isDropPg(row: PgRow): boolean {
  return nbOwned(row, 'security-group') && row.external_ids[SG_IDS.drop] === '1';
}

/** The port group of `key`, ours (defined or placeholder); undefined if missing or another's. */
function pgOf(nb: Db, key: string): PgRow | undefined {
  const row = nbByName(nb, PG, pgName(key));
  return row && nbOwned(row, 'security-group') && row.external_ids[SG_IDS.key] === key ? row : undefined;
}

/** As pgOf, but a port group of that name that is not ours for `key` is a conflict to report. */
function writablePg(nb: Db, key: string): PgRow | undefined {
  const row = nbByName(nb, PG, pgName(key));
  if (row && !(nbOwned(row, 'security-group') && row.external_ids[SG_IDS.key] === key)) {
    throw new ConflictError(`security group ${key}: OVN NB already has a Port_Group named ${row.name} that is not this group's`);
  }
  return row;
}

/** The definition a port group stores; undefined for a placeholder or a row nobody valid wrote. */
function definitionOf(row: PgRow): SecurityGroup | undefined {
  const key = row.external_ids[SG_IDS.key];
  const def = row.external_ids[SG_IDS.definition];
  if (!key || !def || row.name !== pgName(key)) return undefined;
  try {
    // Parsed as the API parses input: a row edited by hand never yields an invalid match.
    const g = parseGroup(JSON.parse(def));
    return sgKey(g.tenant, g.name) === key ? g : undefined;
  } catch {
    return undefined;
  }
}

/** Every defined group, by key order. */
export function listGroups(nb: Db): SecurityGroup[] {
  const out: { key: string; group: SecurityGroup }[] = [];
  for (const row of nbOwnedRows(nb, PG, 'security-group')) {
    const group = definitionOf(row);
    if (group) out.push({ key: sgKey(group.tenant, group.name), group });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((e) => e.group);
}

export function findGroup(nb: Db, key: string): SecurityGroup | undefined {
  const row = pgOf(nb, key);
  return row && definitionOf(row);
}

/** Names of the logical switch ports in the group. */
export function groupMembers(nb: Db, key: string): string[] {
  const row = pgOf(nb, key);
  if (!row?.ports.length) return [];
  const members = new Set(row.ports);
  const names: string[] = [];
  for (const lsp of nbRows(nb, LSP)) if (members.has(lsp._uuid)) names.push(lsp.name);
  return names.sort();
}

/** Keys of the defined groups a logical switch port is in. */
export function groupsOfPort(nb: Db, lspUuid: string): string[] {
  return nbOwnedRows(nb, PG, 'security-group')
    .filter((row) => row.ports.includes(lspUuid) && definitionOf(row))
    .map((row) => row.external_ids[SG_IDS.key])
    .sort();
}

// ------------------------------------------------------------------ writing

function groupIds(key: string, group?: SecurityGroup): Record<string, string> {
  const { tenant } = splitSgKey(key);
  const ids: Record<string, string> = { [SG_IDS.key]: key, [SG_IDS.tenant]: tenant };
  if (group) ids[SG_IDS.definition] = JSON.stringify(groupView(group));
  return ids;
}

function aclRow(spec: AclSpec, ids: Record<string, string>): WireRow {
  return { direction: spec.direction, priority: spec.priority, action: spec.action, match: spec.match, external_ids: map(nbOwner('acl', ids)) };
}

/** A new port group with its ACLs, referred to as `ref` later in the transaction. */
function insertPgOps(name: string, ids: Record<string, string>, acls: AclSpec[], aclIds: Record<string, string>, ref: string): Operation[] {
  const aclRefs = acls.map((_, i) => `${ref}_acl${i}`);
  return [
    absentOp(PG, byName(name)),
    ...acls.map((a, i): Operation => ({ op: 'insert', table: ACL, 'uuid-name': aclRefs[i], row: aclRow(a, aclIds) })),
    { op: 'insert', table: PG, 'uuid-name': ref, row: { name, acls: set(...aclRefs.map(named)), external_ids: map(nbOwner('security-group', ids)) } },
  ];
}

/** Aborts the transaction if the port group's ACL set or external_ids changed since the cache saw them. */
function pgUnchangedOp(row: PgRow): Operation {
  return { op: 'wait', table: PG, where: byUuid(row._uuid), columns: ['acls', 'external_ids'], until: '==', rows: [{ acls: set(...row.acls.map(uuid)), external_ids: map(row.external_ids) }], timeout: 0 };
}

/**
 * Aborts the transaction if any of our port groups matching `ids` appeared, vanished or changed
 * its external_ids (a definition, so possibly what it refers to) since the cache saw them.
 */
function pgsUnchangedOp(nb: Db, ids: Record<string, string>): Operation {
  const rows = nbOwnedRows(nb, PG, 'security-group').filter((r) => Object.entries(ids).every(([k, v]) => r.external_ids[k] === v));
  return {
    op: 'wait', table: PG, where: [['external_ids', 'includes', map({ [OWNER]: PRODUCT, [OWNER_TYPE]: 'security-group', ...ids })]],
    // name is unique: it tells the rows apart as _uuid would.
    columns: ['name', 'external_ids'], until: '==', rows: rows.map((r) => ({ name: r.name, external_ids: map(r.external_ids) })), timeout: 0,
  };
}

/** What makes our ACLs on `row` equal `desired` (another's ACLs on it stay). */
function aclChanges(nb: Db, row: PgRow, desired: AclSpec[]): { add: AclSpec[]; remove: string[] } {
  const refs = new Set(row.acls);
  const have = new Map<string, string>();
  const remove: string[] = [];
  for (const acl of nbOwnedRows(nb, ACL, 'acl')) {
    if (!refs.has(acl._uuid)) continue;
    const k = aclKey(acl);
    if (have.has(k)) remove.push(acl._uuid);
    else have.set(k, acl._uuid);
  }
  const want = new Set(desired.map(aclKey));
  for (const [k, u] of have) if (!want.has(k)) remove.push(u);
  return { add: desired.filter((a) => !have.has(aclKey(a))), remove };
}

/**
 * Turns an existing port group's ACLs and stored ids into the wanted ones: new ACLs inserted,
 * unchanged ones kept, dropped ones unreferenced (Port_Group.acls is a strong reference: OVSDB
 * deletes them). Guarded: a concurrent change of the row aborts the transaction.
 */
function updatePgOps(nb: Db, row: PgRow, desired: AclSpec[], aclIds: Record<string, string>, ids: Record<string, string>, dropIds: string[], ref: string): Operation[] {
  const { add, remove } = aclChanges(nb, row, desired);
  const put = Object.fromEntries(Object.entries(ids).filter(([k, v]) => row.external_ids[k] !== v));
  const gone = dropIds.filter((k) => k in row.external_ids);
  if (!add.length && !remove.length && !Object.keys(put).length && !gone.length) return [];
  const aclRefs = add.map((_, i) => `${ref}_acl${i}`);
  const mutations = [...mapDelete('external_ids', gone), ...mapPut('external_ids', put)];
  if (remove.length) mutations.push(deleteRefs('acls', ...remove.map(uuid)));
  if (add.length) mutations.push(insertRefs('acls', ...aclRefs.map(named)));
  return [
    pgUnchangedOp(row),
    ...add.map((a, i): Operation => ({ op: 'insert', table: ACL, 'uuid-name': aclRefs[i], row: aclRow(a, aclIds) })),
    { op: 'mutate', table: PG, where: byUuid(row._uuid), mutations },
  ];
}

const DROP_IDS = { [SG_IDS.drop]: '1' };

/** The drop group, made (or its ACLs repaired) when needed; `ref` names it for later ops. */
function dropGroupOps(nb: Db): { ops: Operation[]; ref: RowRef; row?: PgRow } {
  const row = nbByName(nb, PG, DROP_PG);
  if (!row) return { ops: insertPgOps(DROP_PG, DROP_IDS, dropGroupAcls(), DROP_IDS, 'sg_drop'), ref: named('sg_drop') };
  if (!isDropPg(row)) throw new ConflictError(`security groups: OVN NB already has a Port_Group named ${DROP_PG} that is not ours`);
  return { ops: updatePgOps(nb, row, dropGroupAcls(), DROP_IDS, DROP_IDS, [], 'sg_drop'), ref: row, row };
}

/** Only guards (waits): a plan made of nothing else changes nothing. */
const onlyGuards = (ops: Operation[]): boolean => ops.every((op) => op.op === 'wait');

/**
 * Creates the group's port group and ACLs, or brings them (and the stored definition) up to
 * `group`. Also makes the drop group if missing, a placeholder port group for each remote group
 * not defined yet, and deletes placeholders no definition refers to any more. Returns [] when NB
 * already holds exactly this. ConflictError: a port group of that name is not ours.
 */
export function upsertGroupOps(nb: Db, group: SecurityGroup): Operation[] {
  const key = sgKey(group.tenant, group.name);
  const row = writablePg(nb, key);
  const ops: Operation[] = [];
  const refs = referencedGroups(group).filter((n) => n !== group.name);
  const orphans = row ? orphanedPlaceholders(nb, group.tenant, key, new Set(refs)) : [];
  // What we decide from the tenant's definitions (placeholders to delete) must still hold at commit.
  if (orphans.length) ops.push(pgsUnchangedOp(nb, { [SG_IDS.tenant]: group.tenant }));
  ops.push(...dropGroupOps(nb).ops);
  refs.forEach((name, i) => {
    const refKey = sgKey(group.tenant, name);
    const ref = writablePg(nb, refKey);
    // An existing one must survive until we commit (a concurrent delete aborts us, we plan again).
    ops.push(...(ref ? presentOp(PG, ref) : insertPgOps(pgName(refKey), groupIds(refKey), [], {}, `sg_ref${i}`)));
  });
  const acls = aclMatches(group);
  const aclIds = { [SG_IDS.key]: key };
  ops.push(...(row ? updatePgOps(nb, row, acls, aclIds, groupIds(key, group), [], 'sg_pg') : insertPgOps(pgName(key), groupIds(key, group), acls, aclIds, 'sg_pg')));
  for (const orphan of orphans) ops.push({ op: 'delete', table: PG, where: byUuid(orphan._uuid) });
  return onlyGuards(ops) ? [] : ops;
}

/**
 * Placeholders of `tenant` that no definition refers to once the group `key` refers to `keep`
 * (its new references): empty ones only, so no port ever loses a membership here.
 */
function orphanedPlaceholders(nb: Db, tenant: string, key: string, keep: Set<string>): PgRow[] {
  const referred = new Set(keep);
  const rows = nbOwnedRows(nb, PG, 'security-group').filter((r) => r.external_ids[SG_IDS.tenant] === tenant && r.external_ids[SG_IDS.key] !== undefined);
  for (const r of rows) {
    if (r.external_ids[SG_IDS.key] === key) continue;
    const g = definitionOf(r);
    if (g) for (const n of referencedGroups(g)) referred.add(n);
  }
  return rows.filter((r) => r.external_ids[SG_IDS.key] !== key && !definitionOf(r) && !r.ports.length && !referred.has(splitSgKey(r.external_ids[SG_IDS.key]).name));
}

/**
 * Deletes the group: its port group and (by strong reference) its ACLs. If another definition
 * still refers to it, it stays as an empty placeholder (no definition, no members, none of our
 * ACLs) so their ACLs stay valid and match nobody. Placeholders only it referred to go too, and
 * the drop group with the last group when it has no member. Members' drop-group membership is the
 * caller's (setMembershipOps): a port still in it is fail-closed. [] when the group is not defined.
 */
export function deleteGroupOps(nb: Db, key: string): Operation[] {
  const row = writablePg(nb, key);
  const group = row && definitionOf(row);
  if (!row || !group) return [];
  // Whether it is still referred to, and which placeholders go, must still hold at commit.
  const guards: Operation[] = [pgsUnchangedOp(nb, { [SG_IDS.tenant]: group.tenant })];
  const writes: Operation[] = [];
  const orphans = orphanedPlaceholders(nb, group.tenant, key, new Set());
  const stillReferred = listGroups(nb).some((g) => g.tenant === group.tenant && g.name !== group.name && referencedGroups(g).includes(group.name));
  if (stillReferred) {
    writes.push({ op: 'update', table: PG, where: byUuid(row._uuid), row: { ports: set() } });
    writes.push(...updatePgOps(nb, row, [], {}, groupIds(key), [SG_IDS.definition], 'sg_pg'));
  } else {
    writes.push({ op: 'delete', table: PG, where: byUuid(row._uuid) });
  }
  for (const orphan of orphans) writes.push({ op: 'delete', table: PG, where: byUuid(orphan._uuid) });
  const drop = nbByName(nb, PG, DROP_PG);
  const remaining = new Set(nbOwnedRows(nb, PG, 'security-group').map((r) => r._uuid));
  for (const r of stillReferred ? orphans : [row, ...orphans]) remaining.delete(r._uuid);
  if (drop && isDropPg(drop) && !drop.ports.length && remaining.size === 1 && remaining.has(drop._uuid)) {
    // The last group goes, and no port is in the drop group: it goes too, unless meanwhile
    // somebody made a group or put a port in it. (Waits first: later ones would see our deletes.)
    guards.push(pgsUnchangedOp(nb, {}), { op: 'wait', table: PG, where: byUuid(drop._uuid), columns: ['ports'], until: '==', rows: [{ ports: set() }], timeout: 0 });
    writes.push({ op: 'delete', table: PG, where: byUuid(drop._uuid) });
  }
  return [...guards, ...writes];
}

/**
 * Makes `lsp` (a cached row, or the named uuid of one inserted earlier in the transaction) a
 * member of exactly the groups `groupKeys` among `groupKeys` + `previous`, and of the drop group
 * iff `groupKeys` is not empty, in one transaction, so a port is never briefly in a group without
 * the drop (open) or the other way round (closed only). SgError SECURITY_GROUP_NOT_FOUND: a group
 * of `groupKeys` is not defined.
 */
export function setMembershipOps(nb: Db, lsp: RowRef, groupKeys: string[], previous: string[]): Operation[] {
  const lspUuid = Array.isArray(lsp) ? undefined : lsp._uuid;
  const atom = Array.isArray(lsp) ? lsp : uuid(lsp._uuid);
  const has = (row: PgRow | undefined) => !!row && !!lspUuid && row.ports.includes(lspUuid);
  const join = (ref: RowRef): Operation => ({ op: 'mutate', table: PG, where: Array.isArray(ref) ? [['_uuid', '==', ref]] : byUuid(ref._uuid), mutations: [insertRefs('ports', atom)] });
  const leave = (row: PgRow): Operation => ({ op: 'mutate', table: PG, where: byUuid(row._uuid), mutations: [deleteRefs('ports', atom)] });
  const wanted = [...new Set(groupKeys)];
  const ops: Operation[] = [];
  for (const key of wanted) {
    const row = pgOf(nb, key);
    if (!row || !definitionOf(row)) throw new SgError('SECURITY_GROUP_NOT_FOUND', `security group ${key} does not exist`);
    // A group deleted meanwhile aborts the transaction (a mutate of a gone row does nothing).
    if (!has(row)) ops.push(...presentOp(PG, row), join(row));
  }
  for (const key of new Set(previous)) {
    const row = pgOf(nb, key);
    if (!wanted.includes(key) && has(row)) ops.push(leave(row!));
  }
  if (wanted.length) {
    const drop = dropGroupOps(nb);
    if (!has(drop.row)) ops.push(...drop.ops, ...(drop.row ? presentOp(PG, drop.row) : []), join(drop.ref));
  } else {
    const drop = nbByName(nb, PG, DROP_PG);
    if (drop && isDropPg(drop) && has(drop)) ops.push(leave(drop));
  }
  return ops;
}
