// Subprocess and process-state helpers shared by the harness.
import * as fs from 'fs';
import execa from 'execa';

export interface RunOptions {
  /** Data written to the child's stdin (then closed). Without it stdin is /dev/null. */
  input?: string | Buffer;
  /** Extra environment variables, merged over process.env. */
  env?: Record<string, string>;
  /** Names removed from the inherited environment (e.g. DOCKER_HOST). */
  unsetEnv?: string[];
  cwd?: string;
  /** Kill the command (SIGKILL) after this many ms; the result then has timedOut: true. */
  timeoutMs?: number;
}

export interface RunResult {
  /** Exit code; 128+N when killed by signal N; 127 when the command could not be started. */
  code: number;
  stdout: string;
  stderr: string;
  timedOut?: boolean;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

/** Runs a command; never throws because of its exit status. */
export async function run(cmd: string, args: string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  let env: NodeJS.ProcessEnv | undefined = opts.env;
  if (opts.unsetEnv?.length) {
    env = { ...process.env, ...opts.env };
    for (const k of opts.unsetEnv) delete env[k];
  }
  const r = await execa(cmd, args, {
    reject: false,
    input: opts.input,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    env,
    extendEnv: !opts.unsetEnv?.length,
    cwd: opts.cwd,
    timeout: opts.timeoutMs,
    killSignal: 'SIGKILL',
  });
  let code: number;
  if (typeof r.exitCode === 'number') code = r.exitCode;
  else if (r.signal) code = 128 + (SIGNALS[r.signal] ?? 0);
  else code = 127; // spawn failure (ENOENT, EACCES): execa puts the reason in shortMessage
  const stderr = r.stderr || (r.failed && typeof r.exitCode !== 'number' && !r.signal ? ((r as { shortMessage?: string }).shortMessage ?? '') : '');
  return { code, stdout: r.stdout ?? '', stderr: stderr ?? '', ...(r.timedOut ? { timedOut: true } : {}) };
}

/** Runs a command and throws (with its stderr in the message) unless it exits 0. */
export async function runOk(cmd: string, args: string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new CommandError(cmd, args, r);
  return r;
}

export class CommandError extends Error {
  constructor(readonly cmd: string, readonly args: string[], readonly result: RunResult) {
    super(
      `command failed (${result.timedOut ? 'timed out' : `exit ${result.code}`}): ${[cmd, ...args].join(' ')}\n` +
        (result.stderr.trim() || result.stdout.trim() || '(no output)'),
    );
    this.name = 'CommandError';
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `probe` every `intervalMs` until it returns a truthy value, which is returned.
 * Throws after `timeoutMs` (message: `what`, plus the last error the probe threw).
 */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${why}`);
    }
    await sleep(opts.intervalMs ?? 50);
  }
}

/**
 * True iff the process exists and is not a zombie. (PID 1 on these machines reaps orphans
 * lazily, so `kill -0` succeeds on a dead-but-unreaped process: read /proc/<pid>/status.)
 */
export function isAlive(pid: number | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    const m = /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return !!m && m[1] !== 'Z' && m[1] !== 'X';
  } catch {
    return false;
  }
}

/** Waits until `pid` is dead (or a zombie); returns false on timeout. */
export async function waitDead(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
  return true;
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL and wait. Only ever call this on PIDs we started. */
export async function terminate(pid: number, graceMs: number): Promise<void> {
  if (!isAlive(pid)) return;
  signal(pid, 'SIGTERM');
  if (await waitDead(pid, graceMs)) return;
  signal(pid, 'SIGKILL');
  await waitDead(pid, 10_000);
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** The process's argv (NUL-separated in /proc), or [] if it is gone. */
export function procCmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
  } catch {
    return [];
  }
}

export function procComm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** All live PIDs whose comm is exactly `comm`. */
export function pidsByComm(comm: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (procComm(pid) === comm && isAlive(pid)) out.push(pid);
  }
  return out;
}

// ---------------------------------------------------------------- last-chance cleanup

const exitHooks: (() => void)[] = [];
let hooked = false;

/**
 * Registers a synchronous cleanup (e.g. SIGKILL the daemons we spawned) run when the test
 * process exits, normally or on SIGINT/SIGTERM/SIGHUP (node's default for those is to die
 * without an 'exit' event; after the hooks the signal's default action still happens).
 */
export function atExit(fn: () => void): void {
  exitHooks.push(fn);
  if (hooked) return;
  hooked = true;
  const runAll = () => {
    for (const h of exitHooks.splice(0)) {
      try {
        h();
      } catch {
        /* best effort */
      }
    }
  };
  process.on('exit', runAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as NodeJS.Signals[]) {
    const onSig = () => {
      runAll();
      // only we listen: re-raise so the process ends as it would have
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSig);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSig);
  }
}

/**
 * Cleanup that never throws: `step(what, fn)` runs fn and records a failure as "what: first line"
 * in `forced`, so an after-hook can go on and report what it had to force.
 */
export function forcedSteps(): { forced: string[]; step: (what: string, fn: () => Promise<unknown>) => Promise<void> } {
  const forced: string[] = [];
  const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      forced.push(`${what}: ${(e as Error).message.split('\n')[0]}`);
    }
  };
  return { forced, step };
}

/** The last maxBytes of a file ('' if it cannot be read): daemon logs in failure messages. */
export function tailFile(file: string, maxBytes: number): string {
  try {
    const buf = fs.readFileSync(file);
    return buf.subarray(Math.max(0, buf.length - maxBytes)).toString('utf8');
  } catch {
    return '';
  }
}
