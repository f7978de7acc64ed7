// Daemon settings: every flag has an OCN_* environment twin (what a managed plugin's
// `docker plugin set` can change) and a line in --help.
import { InputError } from './util/errors';
import { LOG_LEVELS, LogLevel } from './util/log';

export interface DaemonConfig {
  name: string;
  pluginDir: string;
  ovsdb: string;
  logLevel: LogLevel;
  scope: 'local' | 'global';
  defaultPools: string;
  defaultPools6: string;
  stateTimeoutMs: number;
  ovnNb: string;
  ovnSb: string;
  encap: string;
  encapIp: string;
  systemId: string;
  ovnPortTimeoutMs: number;
  joinGraceMs: number;
  peers: string;
  peersFile: string;
  underlayMtu: number;
  overlayGenevePort: number;
  overlayVxlanPort: number;
  ovsdbPrivateKey: string;
  ovsdbCertificate: string;
  ovsdbCaCert: string;
  ovnNbPrivateKey: string;
  ovnNbCertificate: string;
  ovnNbCaCert: string;
  ovsdbTimeoutMs: number;
  groupCommit: boolean;
  poolMin: number;
  poolMax: number;
}

interface FlagSpec {
  flag: keyof DaemonConfig;
  cli: string;
  env: string;
  def: string;
  help: string;
  parse?: (v: string) => unknown;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** A flag whose value must be one of a list. */
function oneOf(cli: string, values: readonly string[]): (v: string) => string {
  return (v) => { if (!values.includes(v)) throw new InputError(`${cli}: "${v}" is not one of ${values.join(', ')}`); return v; };
}
/** A flag whose value must be an integer in [min, max]. */
function intIn(cli: string, min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InputError(`${cli}: "${v}" must be an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}-${max}`}`);
    return n;
  };
}

export const DAEMON_FLAGS: FlagSpec[] = [
  { flag: 'name', cli: '--name', env: 'OCN_NAME', def: 'ovs-container-network',
    help: 'driver name used with `docker network create -d`; the socket is <plugin-dir>/<name>.sock',
    parse: (v) => { if (!NAME_RE.test(v)) throw new InputError(`--name: "${v}" is not valid: use letters, digits, "_", "." or "-" (max 63)`); return v; } },
  { flag: 'pluginDir', cli: '--plugin-dir', env: 'OCN_PLUGIN_DIR', def: '/run/docker/plugins',
    help: 'directory of the plugin socket (dockerd discovers legacy plugins in /run/docker/plugins)' },
  { flag: 'ovsdb', cli: '--ovsdb', env: 'OCN_OVSDB', def: 'unix:/var/run/openvswitch/db.sock',
    help: 'Open_vSwitch database remote: unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT' },
  { flag: 'logLevel', cli: '--log-level', env: 'OCN_LOG_LEVEL', def: 'info',
    help: `log level: ${LOG_LEVELS.join('|')}`,
    parse: oneOf('--log-level', LOG_LEVELS) },
  { flag: 'scope', cli: '--scope', env: 'OCN_SCOPE', def: 'local',
    help: 'data scope reported to Docker: local, or global for swarm-managed networks',
    parse: oneOf('--scope', ['local', 'global']) },
  { flag: 'defaultPools', cli: '--default-pools', env: 'OCN_DEFAULT_POOLS', def: '10.128.0.0/11:24',
    help: 'IPv4 range and prefix length of automatic pools (own IPAM, no --subnet): RANGE:LEN' },
  { flag: 'defaultPools6', cli: '--default-pools6', env: 'OCN_DEFAULT_POOLS6', def: 'fd6f:636e::/32:64',
    help: 'IPv6 range and prefix length of automatic pools: RANGE:LEN' },
  { flag: 'stateTimeoutMs', cli: '--state-timeout-ms', env: 'OCN_STATE_TIMEOUT_MS', def: '20000',
    help: 'how long a request waits for OVSDB at start before failing with a clear error',
    parse: intIn('--state-timeout-ms', 100) },
  { flag: 'ovnNb', cli: '--ovn-nb', env: 'OCN_OVN_NB', def: '',
    help: 'OVN Northbound database (unix:, tcp: or ssl:, comma-separated cluster members); enables -o ovn.switch networks' },
  { flag: 'ovnSb', cli: '--ovn-sb', env: 'OCN_OVN_SB', def: '',
    help: 'OVN Southbound database for ovn-controller; with --encap-ip, sets this host up as a chassis at start' },
  { flag: 'encap', cli: '--encap', env: 'OCN_ENCAP', def: 'geneve',
    help: 'tunnel encapsulation of this chassis: geneve or vxlan',
    parse: oneOf('--encap', ['geneve', 'vxlan']) },
  { flag: 'encapIp', cli: '--encap-ip', env: 'OCN_ENCAP_IP', def: '',
    help: 'this host\'s tunnel endpoint address (ovn-encap-ip)' },
  { flag: 'systemId', cli: '--system-id', env: 'OCN_SYSTEM_ID', def: '',
    help: 'chassis name (external_ids:system-id); default: keep the one set, else the host name' },
  { flag: 'ovnPortTimeoutMs', cli: '--ovn-port-timeout-ms', env: 'OCN_OVN_PORT_TIMEOUT_MS', def: '10000',
    help: 'how long Join waits for ovn-controller to install a port before failing',
    parse: intIn('--ovn-port-timeout-ms', 100) },
  { flag: 'joinGraceMs', cli: '--join-grace-ms', env: 'OCN_JOIN_GRACE_MS', def: '35000',
    help: 'after a restart, how long an endpoint found in no container may still be joined or moved into one by dockerd before it is removed',
    parse: intIn('--join-grace-ms', 0) },
  { flag: 'peers', cli: '--peers', env: 'OCN_PEERS', def: '',
    help: 'tunnel endpoints (IPv4) of the other hosts for -o overlay networks, comma-separated; changeable at run time (peers.set)' },
  { flag: 'peersFile', cli: '--peers-file', env: 'OCN_PEERS_FILE', def: '',
    help: 'file listing the peers (one per line or comma-separated); re-read on SIGHUP' },
  { flag: 'underlayMtu', cli: '--underlay-mtu', env: 'OCN_UNDERLAY_MTU', def: '1500',
    help: 'MTU of the underlay; overlay networks default to it minus the encapsulation (VXLAN 50, Geneve 58)',
    parse: intIn('--underlay-mtu', 1280, 65535) },
  // Not OVN's 6081/4789: ovs-vswitchd refuses a second tunnel with the same type, remote and port.
  { flag: 'overlayGenevePort', cli: '--overlay-geneve-port', env: 'OCN_OVERLAY_GENEVE_PORT', def: '6082',
    help: 'UDP port of the Geneve tunnels of -o overlay=geneve networks (options:dst_port); the same on every host, not OVN\'s 6081 on an OVN chassis',
    parse: intIn('--overlay-geneve-port', 1, 65535) },
  { flag: 'overlayVxlanPort', cli: '--overlay-vxlan-port', env: 'OCN_OVERLAY_VXLAN_PORT', def: '4792',
    help: 'UDP port of the VXLAN tunnels of -o overlay=vxlan networks (options:dst_port); the same on every host, not 4789 where OVN or another VXLAN user has it',
    parse: intIn('--overlay-vxlan-port', 1, 65535) },
  ...sslFlags('ovsdb', '--ovsdb', 'OCN_OVSDB', 'the Open_vSwitch database'),
  ...sslFlags('ovnNb', '--ovn-nb', 'OCN_OVN_NB', 'the OVN Northbound database'),
  { flag: 'ovsdbTimeoutMs', cli: '--ovsdb-timeout-ms', env: 'OCN_OVSDB_TIMEOUT_MS', def: '10000',
    help: 'deadline of every OVSDB and OVN Northbound request, connected or not (a cluster member without quorum holds writes)',
    parse: intIn('--ovsdb-timeout-ms', 100, 30000) },
  { flag: 'groupCommit', cli: '--group-commit', env: 'OCN_GROUP_COMMIT', def: 'off',
    help: 'on: the Open_vSwitch transactions of concurrent requests go out as one (ovs-vswitchd reconfigures once for them); off: one each',
    parse: (v) => oneOf('--group-commit', ['on', 'off'])(v) === 'on' },
  { flag: 'poolMin', cli: '--pool-min', env: 'OCN_POOL_MIN', def: '2',
    help: 'warm ports kept per network once it has had an attach (veth pairs already on its bridge: an attach takes one instead of waiting for ovs-vswitchd to add a port)',
    parse: intIn('--pool-min', 0, 1024) },
  { flag: 'poolMax', cli: '--pool-max', env: 'OCN_POOL_MAX', def: '64',
    help: 'most warm ports per network (the pool follows the attaches of the last minute between --pool-min and this); 0 turns the pool off',
    parse: intIn('--pool-max', 0, 4096) },
];

/** The PEM files an ssl: remote needs, like ovsdb-server's --private-key, --certificate, --ca-cert. */
function sslFlags(prefix: 'ovsdb' | 'ovnNb', cli: string, env: string, what: string): FlagSpec[] {
  const files = [['PrivateKey', 'private-key', 'PRIVATE_KEY', 'PEM private key'], ['Certificate', 'certificate', 'CERTIFICATE', 'PEM certificate'], ['CaCert', 'ca-cert', 'CA_CERT', 'PEM CA certificate']] as const;
  return files.map(([key, flag, envSuffix, desc]) => ({
    flag: `${prefix}${key}` as keyof DaemonConfig, cli: `${cli}-${flag}`, env: `${env}_${envSuffix}`, def: '',
    help: `${desc} file for ssl: remotes of ${what}`,
  }));
}

/** The key, certificate and CA files of a database's ssl: remotes; undefined when none is given. */
export function sslFiles(config: DaemonConfig, db: 'ovsdb' | 'ovnNb'): { key: string; cert: string; ca: string } | undefined {
  const [key, cert, ca] = [config[`${db}PrivateKey`], config[`${db}Certificate`], config[`${db}CaCert`]];
  return key || cert || ca ? { key, cert, ca } : undefined;
}

/** An ssl: remote without all three files would make the daemon fail at its first connection. */
function checkSsl(config: DaemonConfig, db: 'ovsdb' | 'ovnNb'): void {
  const cli = db === 'ovsdb' ? '--ovsdb' : '--ovn-nb';
  const remote = config[db];
  if (!/(^|,)\s*ssl:/.test(remote)) return;
  const given = { 'private-key': config[`${db}PrivateKey`], certificate: config[`${db}Certificate`], 'ca-cert': config[`${db}CaCert`] };
  const missing = Object.entries(given).filter(([, v]) => !v).map(([k]) => `${cli}-${k}`);
  if (missing.length) {
    throw new InputError(`${cli} "${remote}" uses ssl: and needs ${missing.join(', ')} (PEM files, as ovsdb-server's --private-key, --certificate, --ca-cert)`);
  }
}

export function daemonHelp(): string {
  const lines = ['Usage: ovs-container-network daemon [flags]', '', 'Flags (each also read from its environment variable):'];
  for (const f of DAEMON_FLAGS) lines.push(`  ${(f.cli + ' VALUE').padEnd(26)} ${f.help}\n  ${''.padEnd(26)} env ${f.env}, default ${f.def}`);
  lines.push('  --help                     show this help');
  return lines.join('\n');
}

export function parseDaemonConfig(argv: string[], env: NodeJS.ProcessEnv): DaemonConfig {
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(0, eq) : a;
    const spec = DAEMON_FLAGS.find((f) => f.cli === key);
    if (!spec) throw new InputError(`unknown flag ${key}; known flags: ${DAEMON_FLAGS.map((f) => f.cli).join(', ')}, --help`);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new InputError(`${key} needs a value`);
    given.set(spec.cli, value);
  }
  const out: Record<string, unknown> = {};
  for (const f of DAEMON_FLAGS) {
    const raw = given.get(f.cli) ?? env[f.env] ?? f.def;
    out[f.flag] = f.parse ? f.parse(raw) : raw;
  }
  const config = out as unknown as DaemonConfig;
  checkSsl(config, 'ovsdb');
  checkSsl(config, 'ovnNb');
  if (config.overlayGenevePort === config.overlayVxlanPort) {
    throw new InputError(`--overlay-geneve-port and --overlay-vxlan-port: both are ${config.overlayGenevePort}; the two tunnel types need different UDP ports`);
  }
  if (config.poolMax > 0 && config.poolMin > config.poolMax) {
    throw new InputError(`--pool-min ${config.poolMin} is above --pool-max ${config.poolMax}; give a minimum at most the maximum (or --pool-max 0 to turn the pool off)`);
  }
  return config;
}
