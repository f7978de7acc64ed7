// Security groups as the control API and the driver use them: definitions (through the store),
// which groups an endpoint is in, and telling enforcement when either changes. Enforcement is
// per kind of network: OVN ports are Port_Group members (NB), plain networks get conntrack flows
// rendered from the registry (ovs-enforcer.ts).
import { type Registry, uniqueByPrefix } from '../driver/registry';
import type { Endpoint, NetworkRecord } from '../driver/model';
import { kindOf } from '../backends/backend';
import type { Logger } from '../util/log';
import { DEFAULT_GROUP, SgError, type SecurityGroup, checkName, checkTenant, defaultGroup, groupView, parseGroup, referencedGroups, sgKey } from './model';
import type { SgStore } from './store';

export interface SgEnforcement {
  /** An OVN endpoint's Port_Group memberships (group keys now and before). */
  ovnMembership?: (ep: Endpoint, keys: string[], previous: string[]) => Promise<void>;
  /** Re-renders the conntrack flows of these bridges (all with filtered endpoints when omitted). */
  syncPlain: (bridges?: string[]) => Promise<void>;
}

export interface SgServiceDeps {
  store: SgStore;
  registry: Registry;
  enforce: SgEnforcement;
  /** Writes an endpoint's group names to its record (its Interface's external_ids). */
  record: (ep: Endpoint, groups: string[]) => Promise<void>;
  log: Logger;
}

type Params = Record<string, unknown>;

function obj(params: unknown): Params {
  if (params && typeof params === 'object' && !Array.isArray(params)) return params as Params;
  throw new SgError('INVALID_ARGUMENT', 'params: an object with named parameters is expected');
}

/** The tenant a network's groups belong to. */
export const tenantOf = (net: Pick<NetworkRecord, 'options'>): string => net.options.tenantId ?? '';

export class SecurityGroups {
  /** Groups are created and changed one at a time: the checks (exists, in use) and the write are one step. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: SgServiceDeps) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  list(params?: unknown): Record<string, unknown>[] {
    const tenant = params === undefined ? undefined : checkTenant('tenant', obj(params).tenant);
    return this.d.store.list().filter((g) => tenant === undefined || g.tenant === tenant)
      .sort((a, b) => sgKey(a.tenant, a.name).localeCompare(sgKey(b.tenant, b.name)))
      .map((g) => ({ ...groupView(g), members: this.members(sgKey(g.tenant, g.name)) }));
  }

  get(params: unknown): Record<string, unknown> {
    const p = obj(params);
    const key = sgKey(checkTenant('tenant', p.tenant), checkName('name', p.name));
    const g = this.find(key);
    return { ...groupView(g), members: this.members(key) };
  }

  create(params: unknown): Promise<Record<string, unknown>> {
    const g = parseGroup(params);
    return this.serial(async () => {
      const key = sgKey(g.tenant, g.name);
      if (this.d.store.get(key)) throw new SgError('SECURITY_GROUP_EXISTS', `security group ${g.name}${g.tenant ? ` of tenant ${g.tenant}` : ''} exists already; change it with sg.update`, 'name');
      if (g.name !== DEFAULT_GROUP) await this.ensureDefault(g.tenant);
      this.checkReferences(g);
      await this.d.store.put(g);
      this.d.log.info({ group: key }, 'security group created');
      return groupView(g);
    });
  }

  update(params: unknown): Promise<Record<string, unknown>> {
    const g = parseGroup(params);
    return this.serial(async () => {
      const key = sgKey(g.tenant, g.name);
      this.find(key);
      this.checkReferences(g);
      await this.d.store.put(g);
      await this.d.enforce.syncPlain();
      this.d.log.info({ group: key }, 'security group updated');
      return groupView(g);
    });
  }

  delete(params: unknown): Promise<{ deleted: string }> {
    const p = obj(params);
    const tenant = checkTenant('tenant', p.tenant);
    const name = checkName('name', p.name);
    return this.serial(async () => {
      const key = sgKey(tenant, name);
      this.find(key);
      const users = [
        ...this.members(key).map((e) => `endpoint ${e.slice(0, 12)}`),
        ...[...this.d.registry.networks.values()].filter((n) => tenantOf(n) === tenant && n.options.securityGroups?.includes(name)).map((n) => `network ${n.id.slice(0, 12)}`),
        ...this.d.store.list().filter((o) => o.tenant === tenant && o.name !== name && referencedGroups(o).includes(name)).map((o) => `rules of group ${o.name}`),
      ];
      if (users.length) throw new SgError('SECURITY_GROUP_IN_USE', `security group ${name} is in use (${users.slice(0, 5).join(', ')}${users.length > 5 ? `, and ${users.length - 5} more` : ''}); detach it first`, 'name');
      await this.d.store.remove(key);
      this.d.log.info({ group: key }, 'security group deleted');
      return { deleted: name };
    });
  }

  /** sg.attach / sg.detach: changes a running endpoint's groups; returns them. */
  async change(params: unknown, how: 'attach' | 'detach'): Promise<{ endpoint: string; security_groups: string[] }> {
    const p = obj(params);
    const ep = this.endpoint(p.endpoint);
    const names = this.names(p.groups ?? p.group, 'groups');
    return this.d.registry.locks.run(`ep:${ep.id}`, () => this.serial(async () => {
      const net = this.d.registry.networks.get(ep.networkId);
      if (!net || this.d.registry.endpoints.get(ep.id) !== ep) throw new SgError('ENDPOINT_NOT_FOUND', `endpoint ${ep.id.slice(0, 12)} was removed meanwhile`, 'endpoint');
      const tenant = tenantOf(net);
      const before = ep.securityGroups ?? [];
      if (how === 'attach') await this.resolve(tenant, names, 'groups');
      const after = how === 'attach' ? [...new Set([...before, ...names])] : before.filter((n) => !names.includes(n));
      if (after.length === before.length && after.every((n, i) => n === before[i])) return { endpoint: ep.id, security_groups: after };
      await this.apply(net, ep, after);
      this.d.log.info({ endpoint: ep.id.slice(0, 12), groups: after }, `security groups ${how === 'attach' ? 'attached' : 'detached'}`);
      return { endpoint: ep.id, security_groups: after };
    }));
  }

  /** Sets an endpoint's groups: enforcement first on OVN (NB), the record, then plain flows. */
  private async apply(net: NetworkRecord, ep: Endpoint, groups: string[]): Promise<void> {
    const tenant = tenantOf(net);
    const before = ep.securityGroups ?? [];
    const keys = (l: string[]) => l.map((n) => sgKey(tenant, n));
    const ovn = kindOf(net.options) === 'ovn';
    if (ovn) {
      if (!this.d.enforce.ovnMembership) throw new Error('OVN is not enabled in this daemon');
      await this.d.enforce.ovnMembership(ep, keys(groups), keys(before));
    }
    try {
      await this.d.record(ep, groups);
    } catch (err) {
      if (ovn) await this.d.enforce.ovnMembership!(ep, keys(before), keys(groups)).catch(() => undefined);
      throw err;
    }
    ep.securityGroups = groups.length ? groups : undefined;
    if (!ovn) await this.d.enforce.syncPlain([net.options.bridge]);
  }

  /**
   * The groups a new endpoint is in: its own option (`--driver-opt security_groups`) or the
   * network's; each must exist in the network's tenant (the default group is made on first use).
   */
  async forEndpoint(net: NetworkRecord, option: unknown): Promise<string[] | undefined> {
    const names = option === undefined ? net.options.securityGroups : this.names(option, 'option security_groups');
    if (!names?.length) return undefined;
    await this.resolve(tenantOf(net), names, 'option security_groups');
    return names;
  }

  /** A network's groups must exist when it is created (the default group is made on first use). */
  async checkNetwork(net: Pick<NetworkRecord, 'options'>): Promise<void> {
    if (net.options.securityGroups?.length) await this.resolve(tenantOf(net), net.options.securityGroups, 'option security_groups');
  }

  private async resolve(tenant: string, names: string[], field: string): Promise<void> {
    if (names.includes(DEFAULT_GROUP)) await this.ensureDefault(tenant);
    const missing = names.filter((n) => !this.d.store.get(sgKey(tenant, n)));
    if (missing.length) {
      throw new SgError('SECURITY_GROUP_NOT_FOUND', `${field}: security group ${missing.join(', ')} does not exist${tenant ? ` in tenant ${tenant}` : ''} (create it with sg.create; existing: ${this.d.store.list().filter((g) => g.tenant === tenant).map((g) => g.name).join(', ') || 'none'})`, field);
    }
  }

  /** Each tenant's default group exists from its first use on. */
  private async ensureDefault(tenant: string): Promise<void> {
    if (!this.d.store.get(sgKey(tenant, DEFAULT_GROUP))) await this.d.store.put(defaultGroup(tenant));
  }

  private checkReferences(g: SecurityGroup): void {
    for (const name of referencedGroups(g)) {
      if (name !== g.name && name !== DEFAULT_GROUP && !this.d.store.get(sgKey(g.tenant, name))) {
        throw new SgError('SECURITY_GROUP_NOT_FOUND', `a rule's remote group ${name} does not exist${g.tenant ? ` in tenant ${g.tenant}` : ''}; create it first`, 'remote.group');
      }
    }
  }

  private find(key: string): SecurityGroup {
    const g = this.d.store.get(key);
    if (!g) {
      const { tenant, name } = { tenant: key.slice(0, key.lastIndexOf('/')), name: key.slice(key.lastIndexOf('/') + 1) };
      throw new SgError('SECURITY_GROUP_NOT_FOUND', `security group ${name} does not exist${tenant ? ` in tenant ${tenant}` : ''}`, 'name');
    }
    return g;
  }

  /** Endpoint ids in the group: this host's, and (NB) other hosts' logical ports. */
  private members(key: string): string[] {
    const local: string[] = [];
    for (const ep of this.d.registry.endpoints.values()) {
      const net = this.d.registry.networks.get(ep.networkId);
      if (net && ep.securityGroups?.some((n) => sgKey(tenantOf(net), n) === key)) local.push(ep.id);
    }
    return [...local, ...this.d.store.foreignMembers(key).map((lsp) => lsp.replace(/^ocn-/, ''))];
  }

  private names(v: unknown, field: string): string[] {
    // The docker CLI splits --driver-opt at commas: "web:db" is the form that gets through it.
    const list = typeof v === 'string' ? v.split(/[,:]/).map((s) => s.trim()).filter(Boolean) : v;
    if (!Array.isArray(list) || !list.length) throw new SgError('INVALID_ARGUMENT', `${field}: group names are expected, as a list or separated by commas or colons ("web,db", "web:db")`, field);
    return [...new Set(list.map((n) => checkName(field, n)))];
  }

  /** An endpoint by id or unique prefix (at least 6 characters, as `docker network inspect` shows them). */
  private endpoint(v: unknown): Endpoint {
    if (typeof v !== 'string' || v.length < 6) throw new SgError('INVALID_ARGUMENT', `endpoint: ${JSON.stringify(v)} is not an endpoint id; accepted: the id or a unique prefix of at least 6 characters (endpoints.list shows them)`, 'endpoint');
    const ep = uniqueByPrefix(this.d.registry.endpoints.values(), v);
    if (typeof ep === 'number') throw new SgError('ENDPOINT_NOT_FOUND', `endpoint ${v}: ${ep ? `${ep} endpoints start with it; give more of the id` : 'no such endpoint on this host'}`, 'endpoint');
    return ep;
  }
}
