// The VLAN of each network on its bridge. A bridge is one switch: two networks on one VLAN of one
// bridge would be one L2 domain, so every VLAN, explicit or picked, belongs to one network.
import { ConflictError } from '../../util/errors';
import type { NetworkRecord } from '../../driver/model';

/** Untagged frames: the native VLAN of an uplink trunk. */
export const UNTAGGED = 0;
/** Automatic VLANs are taken counting down from here (explicit ones tend to be low numbers). */
const AUTO_FIRST = 4094;

/** The VLAN a network's ports carry on its bridge (its access tag). */
export function vlanOf(net: Pick<NetworkRecord, 'options'>): number {
  return net.options.vlan ?? UNTAGGED;
}

/**
 * Gives `net` its VLAN on its bridge: an explicit one is checked against every other network there;
 * without one, a network that leaves the host untagged through an uplink gets VLAN 0, any other a
 * free local VLAN (no frame of it ever leaves the bridge tagged, so the number is local).
 * Sets `net.options.vlan` (undefined for VLAN 0) and `net.autoVlan`. Synchronous on purpose: the
 * caller records the network before it awaits anything, so two creates never pick one VLAN.
 */
export function assignVlan(net: NetworkRecord, others: Iterable<NetworkRecord>): void {
  const taken = new Map<number, NetworkRecord>();
  for (const n of others) if (n.id !== net.id && n.options.bridge === net.options.bridge) taken.set(vlanOf(n), n);
  const explicit = net.options.vlan;
  const wanted = explicit ?? (net.options.uplink ? UNTAGGED : undefined);
  if (wanted !== undefined) {
    const holder = taken.get(wanted);
    if (holder) {
      const what = wanted === UNTAGGED ? 'untagged traffic (VLAN 0)' : `VLAN ${wanted}`;
      const how = holder.autoVlan ? ' (picked automatically for it)' : '';
      throw new ConflictError(`option vlan: ${what} on bridge ${net.options.bridge} is already used by network ${holder.id.slice(0, 12)}${how}; networks on one bridge need distinct VLANs: give another -o vlan (1-4094) or another -o bridge`);
    }
    return;
  }
  for (let v = AUTO_FIRST; v >= 1; v--) {
    if (!taken.has(v)) {
      net.options.vlan = v;
      net.autoVlan = true;
      return;
    }
  }
  throw new ConflictError(`no free VLAN left on bridge ${net.options.bridge} (4094 networks use it): give another -o bridge`);
}
