// Owner ids: the external_ids keys that mark a row as the plugin's, in both databases. Every row
// the plugin writes carries them, and every "is this ours?" question is answered here, so
// garbage collection can never take a row of a user or of another daemon.
import type { Row } from '../ovsdb/types';

export const OWNER = 'ocn-owner';
export const OWNER_TYPE = 'ocn-owner-type';

/** Rows in the local Open_vSwitch database, owned by one daemon (its driver name). */
export type LocalOwnerType = 'endpoint' | 'gateway' | 'bridge' | 'uplink';
/** Rows in OVN Northbound, shared by every host's daemon: owned by the product. */
export type NbOwnerType = 'switch' | 'port' | 'router' | 'router-port' | 'dhcp' | 'nat';

/** The owner of NB rows: the product name, not a per-host driver name. */
export const PRODUCT = 'ovs-container-network';

export function externalIds(row: Row): Record<string, string> {
  const v = row.external_ids;
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string>) : {};
}

/** The ids to write on a row the daemon `driver` makes in the local database. */
export function localOwner(driver: string, type: LocalOwnerType, extra: Record<string, string> = {}): Record<string, string> {
  return { [OWNER]: driver, [OWNER_TYPE]: type, ...extra };
}

/** The ids to write on an NB row. */
export function nbOwner(type: NbOwnerType, extra: Record<string, string> = {}): Record<string, string> {
  return { [OWNER]: PRODUCT, [OWNER_TYPE]: type, ...extra };
}

function ownerIs(row: Row, owner: string, type: string | undefined): boolean {
  const ids = externalIds(row);
  return ids[OWNER] === owner && (type === undefined || ids[OWNER_TYPE] === type);
}

/** A local row of daemon `driver` (of that type, when given). */
export function ownedBy(row: Row, driver: string, type?: LocalOwnerType): boolean {
  return ownerIs(row, driver, type);
}

/** An NB row the product made (of that type, when given). */
export function nbOwned(row: Row, type?: NbOwnerType): boolean {
  return ownerIs(row, PRODUCT, type);
}

/** The owner key of a row, "<owner>/<type>", for indexes (undefined: not a row of ours). */
export function ownerKey(row: Row): string | undefined {
  const ids = externalIds(row);
  return ids[OWNER] ? `${ids[OWNER]}/${ids[OWNER_TYPE] ?? ''}` : undefined;
}
