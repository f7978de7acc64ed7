// Puts a bridge's security-group flows (ovs-flows.ts) in place with ovs-ofctl: the whole set of
// our cookie is replaced in one OpenFlow 1.4 bundle (a `delete cookie=ours/-1` then the adds),
// so a packet sees either the old set or the new one, and flows of anyone else are untouched.
// Applies to one bridge run one at a time; a newer request replaces a waiting one (latest wins).
import execa from 'execa';
import { mgmtTarget } from '../overlay/flows';
import { SG_COOKIE } from './ovs-flows';

const DEFAULT_OVSDB = 'unix:/var/run/openvswitch/db.sock';
const OFCTL_TIMEOUT_MS = 10_000;
/** Bundles are OpenFlow 1.4; the bridge must allow it (OVS does by default). */
const OF_VERSION = 'OpenFlow14';
const OURS = `cookie=${SG_COOKIE}/-1`;

/** The file handed to `ovs-ofctl --bundle add-flows`: our old flows out, the new ones in. */
export function bundleText(flows: readonly string[]): string {
  return [`delete ${OURS}`, ...flows.map((f) => `add ${f}`)].join('\n') + '\n';
}

/** A flow line's identity in its table: everything but its actions (an add with it replaces the flow). */
const matchOf = (line: string): string => line.slice(0, line.indexOf(',actions='));

/**
 * The bundle taking the bridge from the set last installed to `flows`: only what changed, so
 * ovs-vswitchd revalidates for one endpoint's flows, not the bridge's whole set (an attach
 * among 100 filtered endpoints otherwise rewrites all of theirs).
 */
export function diffBundleText(installed: readonly string[], flows: readonly string[]): string {
  const keep = new Set(installed);
  const wanted = new Set(flows.map(matchOf));
  const lines: string[] = [];
  // A delete matches the cookie (with a mask: without one ovs-ofctl would read it as setting it).
  for (const old of installed) if (!wanted.has(matchOf(old))) lines.push(`delete_strict ${matchOf(old).replace(`cookie=${SG_COOKIE},`, `${OURS},`)}`);
  for (const f of flows) if (!keep.has(f)) lines.push(`add ${f}`);
  return lines.length ? lines.join('\n') + '\n' : '';
}

export class SgFlowError extends Error {
  override name = 'SgFlowError';
  constructor(readonly bridge: string, message: string) {
    super(message);
  }
}

export interface SgFlowApplierOptions {
  /** Per ovs-ofctl call; default 10 s. */
  timeoutMs?: number;
}

interface Waiter {
  resolve(): void;
  reject(e: unknown): void;
}

interface BridgeQueue {
  running: boolean;
  /** The request waiting for the running one; a newer request takes its place (and its waiters). */
  next?: { flows: readonly string[]; waiters: Waiter[] };
}

export class SgFlowApplier {
  private readonly queues = new Map<string, BridgeQueue>();
  /** What each bridge got from the last apply that succeeded (a failure forgets it: the next is whole). */
  private readonly installed = new Map<string, readonly string[]>();
  private readonly timeoutMs: number;

  /** `ovsdbRemote`: the switch's OVSDB remote; its run directory holds the bridges' <bridge>.mgmt sockets. */
  constructor(private readonly ovsdbRemote: string = DEFAULT_OVSDB, opts: SgFlowApplierOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? OFCTL_TIMEOUT_MS;
  }

  /**
   * Makes `flows` the bridge's whole set of ours, atomically. Resolves once this set, or a newer
   * one asked for meanwhile, is in place; rejects with an SgFlowError naming the bridge.
   */
  apply(bridge: string, flows: readonly string[]): Promise<void> {
    const foreign = flows.find((f) => !f.startsWith(`cookie=${SG_COOKIE},`));
    if (foreign !== undefined) return Promise.reject(new SgFlowError(bridge, `security-group flows for bridge ${bridge}: refusing a flow without our cookie: ${foreign}`));
    let q = this.queues.get(bridge);
    if (!q) this.queues.set(bridge, (q = { running: false }));
    const next = (q.next ??= { flows, waiters: [] });
    next.flows = flows;
    const done = new Promise<void>((resolve, reject) => next.waiters.push({ resolve, reject }));
    if (!q.running) void this.drain(bridge, q);
    return done;
  }

  /** Removes every flow of ours from the bridge (queued like apply, so it wins over older applies). */
  remove(bridge: string): Promise<void> {
    return this.apply(bridge, []);
  }

  /** Forgets what was installed: the next apply replaces the whole set (after OVS lost flows). */
  forget(bridge: string): void {
    this.installed.delete(bridge);
  }

  /** How many flows of ours the bridge has now (fewer than rendered: someone deleted them). */
  async count(bridge: string): Promise<number> {
    const out = await this.ofctl(bridge, ['--no-stats', 'dump-flows', this.target(bridge), OURS], 'dump-flows');
    return out.split('\n').filter((l) => /^\s*cookie=/.test(l)).length;
  }

  private async drain(bridge: string, q: BridgeQueue): Promise<void> {
    q.running = true;
    try {
      while (q.next) {
        const job = q.next;
        q.next = undefined;
        try {
          const before = this.installed.get(bridge);
          const text = before ? diffBundleText(before, job.flows) : bundleText(job.flows);
          this.installed.delete(bridge);
          if (text) await this.ofctl(bridge, ['--bundle', 'add-flows', this.target(bridge), '-'], 'add-flows', text);
          this.installed.set(bridge, job.flows);
          for (const w of job.waiters) w.resolve();
        } catch (e) {
          for (const w of job.waiters) w.reject(e);
        }
      }
    } finally {
      q.running = false;
      if (this.queues.get(bridge) === q) this.queues.delete(bridge);
    }
  }

  private target(bridge: string): string {
    return mgmtTarget(this.ovsdbRemote, bridge);
  }

  private async ofctl(bridge: string, args: string[], what: string, input?: string): Promise<string> {
    const r = await execa('ovs-ofctl', ['-O', OF_VERSION, ...args], { input, timeout: this.timeoutMs, reject: false });
    if (r.timedOut) throw new SgFlowError(bridge, `security-group flows on bridge ${bridge}: ovs-ofctl ${what} timed out after ${this.timeoutMs / 1000} s`);
    if (r.exitCode !== 0) {
      const why = (r.stderr || r.stdout || (r as { shortMessage?: string }).shortMessage || `exit ${r.exitCode}`).trim();
      throw new SgFlowError(bridge, `security-group flows on bridge ${bridge}: ovs-ofctl ${what} failed: ${why}`);
    }
    return r.stdout;
  }
}
