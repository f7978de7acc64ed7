// Test helper: a private ovsdb-server in a temp dir, started in the foreground so we own its PID.
// Reusable for any schema (e.g. /usr/share/ovn/ovn-nb.ovsschema).

import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const VSWITCH_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
export const OVN_NB_SCHEMA = '/usr/share/ovn/ovn-nb.ovsschema';

export interface StartOptions {
  /** Also listen on TCP 127.0.0.1 (0 = a free port picked by the helper; see `tcpRemote`). */
  tcpPort?: number;
  /** Also listen with SSL on 127.0.0.1 (any free port): certificates are made in the temp dir. */
  ssl?: boolean;
  /** Extra ovsdb-server arguments, e.g. a --remote=db:... */
  extraArgs?: string[];
}

/** PEM files for a client of an ssl-enabled test server (signed by the same throwaway CA). */
export interface ClientSslFiles {
  key: string;
  cert: string;
  ca: string;
}

export interface OvsdbServer {
  /** unix:<dir>/db.sock */
  remote: string;
  /** tcp:127.0.0.1:<port> when started with tcpPort, else undefined (same after restart()). */
  tcpRemote: string | undefined;
  /** ssl:127.0.0.1:<port> when started with ssl, else undefined (same after restart()). */
  sslRemote: string | undefined;
  /** Client key/cert/CA files when started with ssl. */
  sslFiles: ClientSslFiles | undefined;
  dir: string;
  /** PID of the current ovsdb-server process. */
  readonly pid: number;
  /** SIGTERM and wait for exit; also removes the temp dir. */
  stop(): Promise<void>;
  /** SIGKILL, no waiting, no cleanup: simulates a crash. */
  kill9(): void;
  /** Resolves once the current process has exited (e.g. after kill9()). */
  waitExit(): Promise<void>;
  /** (Re)starts the server on the same database file, waiting until it accepts connections. */
  restart(): Promise<void>;
}

// Servers run in the foreground, so make sure they die with the test process.
const live = new Set<ChildProcess>();
const killAll = (): void => {
  for (const c of live) c.kill('SIGKILL');
};
process.once('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAll();
    process.kill(process.pid, sig);
  });
}

export async function startOvsdbServer(schemaPath: string = VSWITCH_SCHEMA, opts: StartOptions = {}): Promise<OvsdbServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ovsdb-test-'));
  const db = path.join(dir, 'conf.db');
  const sockPath = path.join(dir, 'db.sock');
  const logPath = path.join(dir, 'log');
  execFileSync('ovsdb-tool', ['create', db, schemaPath]);
  const sslFiles = opts.ssl ? makeCertificates(dir) : undefined;
  // Fixed ports, not port 0: with two listeners the log does not say which port is which, and the
  // remotes stay valid across restart().
  const tcpPort = opts.tcpPort === undefined ? undefined : opts.tcpPort || (await freePort());
  const sslPort = opts.ssl ? await freePort() : undefined;
  const tcpRemote = tcpPort === undefined ? undefined : `tcp:127.0.0.1:${tcpPort}`;
  const sslRemote = sslPort === undefined ? undefined : `ssl:127.0.0.1:${sslPort}`;
  const args = [
    db,
    `--remote=punix:${sockPath}`,
    `--pidfile=${path.join(dir, 'pid')}`,
    `--unixctl=${path.join(dir, 'ctl')}`,
    `--log-file=${logPath}`,
    '--no-chdir',
    ...(tcpPort !== undefined ? [`--remote=ptcp:${tcpPort}:127.0.0.1`] : []),
    ...(sslFiles
      ? [
          `--private-key=${path.join(dir, 'server-key.pem')}`,
          `--certificate=${path.join(dir, 'server-cert.pem')}`,
          `--ca-cert=${sslFiles.ca}`,
          `--remote=pssl:${sslPort}:127.0.0.1`,
        ]
      : []),
    ...(opts.extraArgs ?? []),
  ];

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stderr = '';

  async function start(): Promise<void> {
    stderr = '';
    const c = spawn('ovsdb-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    live.add(c);
    c.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    exited = new Promise((resolve) =>
      c.once('exit', () => {
        live.delete(c);
        resolve();
      }),
    );
    try {
      const deadline = Date.now() + 10_000;
      for (;;) {
        if (c.exitCode !== null || c.signalCode !== null) throw new Error(`ovsdb-server exited at start: ${stderr}`);
        // The unix socket may be up before the TCP listeners: wait for all of them.
        if (
          (await canConnect({ path: sockPath })) &&
          (tcpPort === undefined || (await canConnect({ port: tcpPort, host: '127.0.0.1' }))) &&
          (sslPort === undefined || (await canConnect({ port: sslPort, host: '127.0.0.1' })))
        ) {
          break;
        }
        if (Date.now() > deadline) throw new Error(`ovsdb-server did not come up: ${stderr}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    } catch (err) {
      c.kill('SIGKILL');
      await exited;
      throw err;
    }
  }

  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    remote: `unix:${sockPath}`,
    tcpRemote,
    sslRemote,
    sslFiles,
    dir,
    get pid() {
      return child?.pid ?? -1;
    },
    async stop() {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
    kill9() {
      child?.kill('SIGKILL');
    },
    waitExit() {
      return exited;
    },
    async restart() {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      await start();
    },
  };
}

/** A throwaway CA, a server and a client certificate, made with the openssl CLI. */
function makeCertificates(dir: string): ClientSslFiles {
  const f = (name: string): string => path.join(dir, name);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca-key.pem'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=test-ca');
  for (const who of ['server', 'client']) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${who}-key.pem`), '-out', f(`${who}.csr`), '-subj', `/CN=${who}`);
    openssl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial',
      '-out', f(`${who}-cert.pem`), '-days', '2');
  }
  return { key: f('client-key.pem'), cert: f('client-cert.pem'), ca: f('ca.pem') };
}

function canConnect(target: net.NetConnectOpts): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(target);
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A TCP port that was free a moment ago (for servers that must keep their port across restarts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address() as net.AddressInfo;
      srv.close(() => resolve(addr.port));
    });
  });
}

/** Runs ovs-vsctl against the test server as a second, independent client. */
export async function vsctl(remote: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('ovs-vsctl', [`--db=${remote}`, '--no-wait', '--timeout=5', ...args], { encoding: 'utf8' });
  return stdout.trim();
}

/** Runs a transaction directly on the database file (only while the server is stopped). */
export async function toolTransact(dir: string, ops: unknown[]): Promise<string> {
  const { stdout } = await execFileAsync('ovsdb-tool', ['transact', path.join(dir, 'conf.db'), JSON.stringify(ops)], { encoding: 'utf8' });
  return stdout.trim();
}
