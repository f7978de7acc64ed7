// `ovs-container-network chassis setup|status`: make this host an OVN chassis, or say whether
// it is one (registered in the Southbound database with its tunnel endpoint).
import { OvsdbClient } from './ovsdb/client';
import { dbFromClient } from './daemon';
import { chassisSetupOps, chassisStatus, chassisIds } from './ovs/chassis';
import { rootExternalIds } from './ovs/open-vswitch';
import { findByName } from './ovs/db';
import type { OpenVSwitchTables } from './model/vswitch';
import { InputError } from './util/errors';


const USAGE = `Usage:
  ovs-container-network chassis setup --ovn-sb REMOTE --encap-ip IP [--encap geneve|vxlan] [--system-id NAME]
                                      [--bridge-mappings physnet:br-ex] [--ovsdb REMOTE]
  ovs-container-network chassis status [--ovsdb REMOTE] [--json]`;

function flags(argv: string[], allowed: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') { out.set(a, 'true'); continue; }
    if (!allowed.includes(a)) throw new InputError(`unknown flag ${a}\n${USAGE}`);
    const v = argv[++i];
    if (v === undefined) throw new InputError(`${a} needs a value`);
    out.set(a, v);
  }
  return out;
}

async function connect(remote: string, database: string, monitor: Record<string, { columns?: string[] }>, timeoutMs: number): Promise<OvsdbClient> {
  const c = new OvsdbClient({ remote, database, monitor, offlineWaitMs: timeoutMs });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([c.connect(), new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`cannot reach ${database} at ${remote}`)), timeoutMs); })]);
  } catch (err) {
    c.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return c;
}

// What chassisStatus and rootExternalIds read: the root row's external_ids too, unlike the daemon.
const LOCAL_MONITOR = {
  Open_vSwitch: { columns: ['external_ids'] }, Bridge: { columns: ['name'] }, Interface: { columns: ['name', 'type', 'external_ids'] },
} satisfies { [T in keyof OpenVSwitchTables]?: { columns: (keyof OpenVSwitchTables[T])[] } };

export async function chassisMain(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'setup') {
    const f = flags(rest, ['--ovsdb', '--ovn-sb', '--encap', '--encap-ip', '--system-id', '--bridge-mappings']);
    const encap = f.get('--encap') ?? env.OCN_ENCAP ?? 'geneve';
    if (encap !== 'geneve' && encap !== 'vxlan') throw new InputError(`--encap: "${encap}" is not one of geneve, vxlan`);
    const c = await connect(f.get('--ovsdb') ?? env.OCN_OVSDB ?? 'unix:/var/run/openvswitch/db.sock', 'Open_vSwitch', LOCAL_MONITOR, 5000);
    try {
      const db = dbFromClient(c);
      const settings = { ovnSb: f.get('--ovn-sb') ?? env.OCN_OVN_SB ?? '', encap: encap as 'geneve' | 'vxlan', encapIp: f.get('--encap-ip') ?? env.OCN_ENCAP_IP ?? '', systemId: f.get('--system-id') ?? env.OCN_SYSTEM_ID, bridgeMappings: f.get('--bridge-mappings') ?? env.OCN_BRIDGE_MAPPINGS };
      const current = rootExternalIds(db);
      const ids = chassisIds(current, settings);
      await c.transact(chassisSetupOps(current, settings));
      console.log(Object.entries(ids).map(([k, v]) => `${k}=${v}`).join('\n'));
    } finally {
      c.close();
    }
    return;
  }
  if (sub === 'status') {
    const f = flags(rest, ['--ovsdb']);
    const c = await connect(f.get('--ovsdb') ?? env.OCN_OVSDB ?? 'unix:/var/run/openvswitch/db.sock', 'Open_vSwitch', LOCAL_MONITOR, 5000);
    let registered: boolean | undefined;
    let sbError: string | undefined;
    const st = chassisStatus(dbFromClient(c));
    c.close();
    if (st.ovnRemote && st.systemId) {
      try {
        const sb = await connect(st.ovnRemote, 'OVN_Southbound', { Chassis: { columns: ['name', 'hostname', 'encaps'] } }, 3000);
        registered = findByName(dbFromClient(sb), 'Chassis', st.systemId) !== undefined;
        sb.close();
      } catch (err) {
        sbError = String(err instanceof Error ? err.message : err);
      }
    }
    const bound = !!registered && st.bridgeExists;
    const out = { ...st, registered, bound, sbError };
    if (f.has('--json')) {
      console.log(JSON.stringify(out));
    } else {
      console.log(`system-id:  ${st.systemId ?? '(unset)'}\novn-remote: ${st.ovnRemote ?? '(unset)'}\nencap:      ${st.encapType ?? '(unset)'} ${st.encapIp ?? ''}\nbridge:     ${st.integrationBridge} ${st.bridgeExists ? 'present' : 'missing'}\ntunnels:    ${st.tunnels}\nregistered: ${registered === undefined ? 'unknown' : registered}${sbError ? ` (${sbError})` : ''}\nbound:      ${bound}`);
    }
    if (!bound) process.exitCode = 3;
    return;
  }
  throw new InputError(`unknown chassis command "${sub ?? ''}"\n${USAGE}`);
}


