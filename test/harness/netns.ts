// Network namespaces owned by the tests: every name starts with `ocnt-`, nothing else is touched.
import { ChildProcess, spawn } from 'child_process';
import { atExit, isAlive, run, runOk, RunOptions, RunResult, sleep, terminate } from './exec';

export const NS_PREFIX = 'ocnt-';

function fullName(name: string): string {
  const ns = name.startsWith(NS_PREFIX) ? name : NS_PREFIX + name;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(ns)) throw new Error(`bad netns name ${JSON.stringify(ns)}`);
  return ns;
}

export async function netnsExists(ns: string): Promise<boolean> {
  const r = await runOk('ip', ['netns', 'list']);
  return r.stdout.split('\n').some((l) => l.split(/\s+/)[0] === ns);
}

/**
 * Creates `ocnt-<name>` (returns the full name) with lo up. A leftover namespace of that name
 * (from a crashed run: the prefix is reserved for the tests) is deleted first.
 */
export async function createNetns(name: string): Promise<string> {
  const ns = fullName(name);
  if (await netnsExists(ns)) await deleteNetns(ns);
  await runOk('ip', ['netns', 'add', ns]);
  await runOk('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  return ns;
}

/** Kills every process inside the (test-owned) namespace, then deletes it. Idempotent. */
export async function deleteNetns(name: string): Promise<void> {
  const ns = fullName(name);
  if (!(await netnsExists(ns))) return;
  const pids = (await run('ip', ['netns', 'pids', ns])).stdout.split(/\s+/).filter(Boolean).map(Number);
  await Promise.all(pids.map((p) => terminate(p, 3000)));
  await run('ip', ['netns', 'del', ns]);
}

/** Runs a command inside the namespace; never throws on non-zero exit. */
export function nsExec(ns: string, cmd: string, args: string[] = [], opts?: RunOptions): Promise<RunResult> {
  return run('ip', ['netns', 'exec', fullName(ns), cmd, ...args], opts);
}

/** Like nsExec but throws (with stderr) on non-zero exit. */
export function nsExecOk(ns: string, cmd: string, args: string[] = [], opts?: RunOptions): Promise<RunResult> {
  return runOk('ip', ['netns', 'exec', fullName(ns), cmd, ...args], opts);
}

/**
 * Starts a long-running process (a server) inside the namespace. Its output is collected in
 * `output()`. It is killed when the namespace is deleted, or with `stopNsProcess`.
 */
export interface NsProcess {
  child: ChildProcess;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

const nsProcs = new Set<ChildProcess>();
atExit(() => {
  for (const c of nsProcs) if (c.pid && isAlive(c.pid)) c.kill('SIGKILL');
});

export function nsSpawn(ns: string, cmd: string, args: string[] = [], env?: Record<string, string>): NsProcess {
  const child = spawn('ip', ['netns', 'exec', fullName(ns), cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env ? { ...process.env, ...env } : process.env,
  });
  if (!child.pid) throw new Error(`could not spawn ${cmd} in ${ns}`);
  nsProcs.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  child.on('exit', () => nsProcs.delete(child));
  const pid = child.pid;
  return {
    child,
    pid,
    output: () => out,
    stop: async () => {
      await terminate(pid, 3000);
      nsProcs.delete(child);
    },
  };
}

// ---------------------------------------------------------------- the outside world

export interface OutsideWorldOptions {
  /** Namespace ocnt-<name>, root-side veth ocnt-<name>0 (name at most 9 chars). Default 'wan'. */
  name?: string;
  /** Root-namespace side address. Default 203.0.113.1 (TEST-NET-3). */
  hostIp?: string;
  /** Address inside the namespace. Default 203.0.113.2. */
  outsideIp?: string;
  prefixLen?: number;
  /** IPv6 pair (nodad); default 2001:db8:203::1 / 2001:db8:203::2, prefix 64. `false` for none. */
  ipv6?: { hostIp: string; outsideIp: string; prefixLen: number } | false;
}

export interface OutsideWorld {
  /** Full namespace name (ocnt-<name>). */
  ns: string;
  /** Root-namespace interface (the host's "uplink" towards this world). */
  hostIf: string;
  hostIp: string;
  outsideIp: string;
  prefixLen: number;
  hostIp6?: string;
  outsideIp6?: string;
  exec(cmd: string, args?: string[], opts?: RunOptions): Promise<RunResult>;
  /** Starts a server inside the world (e.g. `python3 -m http.server`, `iperf3 -s`). */
  spawn(cmd: string, args?: string[]): NsProcess;
  /** Starts `python3 -m http.server PORT` inside the world, serving `dir`, and waits until it answers. */
  httpServer(port: number, dir?: string): Promise<NsProcess>;
  destroy(): Promise<void>;
}

/**
 * A namespace standing in for the internet: veth `ocnt-<name>0` (hostIp, root namespace) <->
 * `eth0` (outsideIp, inside, default route back to hostIp). Containers behind the host's NAT
 * reach outsideIp; the world itself only knows the host, so un-NATed traffic gets no answer.
 */
export async function makeOutsideWorld(opts: OutsideWorldOptions = {}): Promise<OutsideWorld> {
  const name = opts.name ?? 'wan';
  const hostIf = `${NS_PREFIX}${name}0`;
  if (hostIf.length > 15) throw new Error(`outside world name too long: ${name}`);
  const hostIp = opts.hostIp ?? '203.0.113.1';
  const outsideIp = opts.outsideIp ?? '203.0.113.2';
  const prefixLen = opts.prefixLen ?? 24;
  const v6 = opts.ipv6 === false ? undefined : (opts.ipv6 ?? { hostIp: '2001:db8:203::1', outsideIp: '2001:db8:203::2', prefixLen: 64 });

  const ns = await createNetns(name);
  const procs: NsProcess[] = [];
  const destroy = async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await run('ip', ['link', 'del', hostIf]); // also removes the peer
    await deleteNetns(ns);
  };
  try {
    await run('ip', ['link', 'del', hostIf]); // leftover of a crashed run
    await runOk('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await runOk('ip', ['addr', 'add', `${hostIp}/${prefixLen}`, 'dev', hostIf]);
    await runOk('ip', ['-n', ns, 'addr', 'add', `${outsideIp}/${prefixLen}`, 'dev', 'eth0']);
    if (v6) {
      await runOk('ip', ['addr', 'add', `${v6.hostIp}/${v6.prefixLen}`, 'dev', hostIf, 'nodad']);
      await runOk('ip', ['-n', ns, 'addr', 'add', `${v6.outsideIp}/${v6.prefixLen}`, 'dev', 'eth0', 'nodad']);
    }
    await runOk('ip', ['link', 'set', hostIf, 'up']);
    await runOk('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await runOk('ip', ['-n', ns, 'route', 'add', 'default', 'via', hostIp]);
    if (v6) await runOk('ip', ['-n', ns, '-6', 'route', 'add', 'default', 'via', v6.hostIp]);
  } catch (e) {
    await destroy();
    throw e;
  }
  const spawnIn = (cmd: string, args: string[] = []) => {
    const p = nsSpawn(ns, cmd, args);
    procs.push(p);
    return p;
  };
  return {
    ns,
    hostIf,
    hostIp,
    outsideIp,
    prefixLen,
    hostIp6: v6?.hostIp,
    outsideIp6: v6?.outsideIp,
    exec: (cmd, args = [], o) => nsExec(ns, cmd, args, o),
    spawn: spawnIn,
    httpServer: async (port, dir = '/tmp') => {
      const p = spawnIn('python3', ['-m', 'http.server', String(port), '--bind', '::', '--directory', dir]);
      const deadline = Date.now() + 20_000;
      // python's http.server binds once it has imported itself: poll the port from inside.
      for (;;) {
        const r = await nsExec(ns, 'bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { timeoutMs: 2000 });
        if (r.code === 0) return p;
        if (!isAlive(p.pid) || Date.now() > deadline) {
          await p.stop();
          throw new Error(`http server in ${ns} did not start:\n${p.output()}`);
        }
        await sleep(50);
      }
    },
    destroy,
  };
}
