// Security groups of one daemon, built once: the store (NB when the daemon has OVN, else this
// host's records), plain bridges' flow enforcement, and the service the API and driver use.
import type { Db } from '../ovs/db';
import type { KvStore } from '../state/kv';
import type { Registry } from '../driver/registry';
import type { Endpoint } from '../driver/model';
import type { OvnNetworks } from '../backends/ovn/ovn-network';
import { EP } from '../model/owner-ids';
import { recordEndpointKey } from '../ovs/port';
import { lspName } from '../ovn/logical-switch-port';
import type { Logger } from '../util/log';
import { LocalSgStore, NbSgStore, type SgStore } from './store';
import { PlainSgEnforcer } from './ovs-enforcer';
import { SgFlowApplier } from './ovs-firewall';
import type { PortQos } from './ovs-flows';
import { SecurityGroups } from './service';

export interface SgParts {
  name: string;
  db: Db;
  kv: KvStore;
  registry: Registry;
  log: Logger;
  /** The local OVSDB remote (ovs-ofctl finds the bridges' OpenFlow sockets beside it). */
  ovsdbRemote: string;
  /** OVN NB and the OVN side of networks, when the daemon has OVN. */
  nb?: Db;
  ovn?: OvnNetworks;
  /** A port's meter and DSCP, which a filtered port's entry flows apply. */
  portQos?: (endpointId: string) => PortQos | undefined;
}

export interface SgComponents {
  service: SecurityGroups;
  enforcer: PlainSgEnforcer;
  store: SgStore;
  /** After the records are read at start-up. */
  load(): void;
}

export function composeSecurityGroups(p: SgParts): SgComponents {
  const local = p.nb ? undefined : new LocalSgStore(p.kv, p.name);
  const store: SgStore = local ?? new NbSgStore(p.nb!, (lsp) => [...p.registry.endpoints.keys()].some((id) => lspName(id) === lsp));
  const enforcer = new PlainSgEnforcer(p.db, p.registry, () => store, new SgFlowApplier(p.ovsdbRemote), p.log, p.portQos);
  const record = (ep: Endpoint, groups: string[]): Promise<void> => recordEndpointKey(p.db, ep.hostIf, EP.securityGroups, groups.length ? groups.join(',') : undefined);
  const service = new SecurityGroups({
    store, registry: p.registry, record, log: p.log,
    enforce: {
      ovnMembership: p.ovn && ((ep, keys, previous) => p.ovn!.setGroups(ep, keys, previous)),
      syncPlain: (bridges) => enforcer.sync(bridges),
    },
  });
  return { service, enforcer, store, load: () => local?.load() };
}
