// Where security group definitions live. With OVN NB, on the group's own Port_Group row, so every
// host sees one definition and the row that enforces it carries it; without NB, in this host's
// records (OVSDB, like every other record of the daemon). Chosen once at start.
import type { KvStore } from '../state/kv';
import type { Db } from '../ovs/db';
import { commitPlan } from '../ovn/txn';
import { deleteGroupOps, findGroup, groupMembers, listGroups, upsertGroupOps } from '../ovn/port-group';
import { type SecurityGroup, sgKey } from './model';

export interface SgStore {
  /** 'nb' or 'local': where a definition is visible (every host, or this one). */
  readonly scope: 'nb' | 'local';
  list(): SecurityGroup[];
  get(key: string): SecurityGroup | undefined;
  /** Creates or replaces the definition (and, in NB, its ACLs). */
  put(group: SecurityGroup): Promise<void>;
  remove(key: string): Promise<void>;
  /** Members the store knows of beyond this host's endpoints (NB: logical ports in the group). */
  foreignMembers(key: string): string[];
}

/** In this host's records: `ocn.<driver>.sg.<tenant>/<name>` = the definition as JSON. */
export class LocalSgStore implements SgStore {
  readonly scope = 'local';
  private readonly groups = new Map<string, SecurityGroup>();
  private readonly prefix: string;

  constructor(private readonly kv: KvStore, driver: string) {
    this.prefix = `ocn.${driver}.sg.`;
  }

  load(): void {
    this.groups.clear();
    for (const [k, v] of this.kv.load(this.prefix)) {
      try {
        this.groups.set(k.slice(this.prefix.length), JSON.parse(v) as SecurityGroup);
      } catch {
        // A record no version of the daemon wrote: ignored, like any foreign key.
      }
    }
  }

  list(): SecurityGroup[] {
    return [...this.groups.values()];
  }

  get(key: string): SecurityGroup | undefined {
    return this.groups.get(key);
  }

  async put(group: SecurityGroup): Promise<void> {
    const key = sgKey(group.tenant, group.name);
    await this.kv.commit({ set: { [this.prefix + key]: JSON.stringify(group) } });
    this.groups.set(key, group);
  }

  async remove(key: string): Promise<void> {
    await this.kv.commit({ del: [this.prefix + key] });
    this.groups.delete(key);
  }

  foreignMembers(): string[] {
    return [];
  }
}

/** On the groups' Port_Group rows in OVN NB (read from the monitored cache). */
export class NbSgStore implements SgStore {
  readonly scope = 'nb';

  constructor(private readonly nb: Db, private readonly localEndpoint: (lspName: string) => boolean) {}

  list(): SecurityGroup[] {
    return listGroups(this.nb);
  }

  get(key: string): SecurityGroup | undefined {
    return findGroup(this.nb, key);
  }

  put(group: SecurityGroup): Promise<void> {
    return commitPlan(this.nb, () => upsertGroupOps(this.nb, group));
  }

  remove(key: string): Promise<void> {
    return commitPlan(this.nb, () => deleteGroupOps(this.nb, key));
  }

  foreignMembers(key: string): string[] {
    return groupMembers(this.nb, key).filter((name) => !this.localEndpoint(name));
  }
}
