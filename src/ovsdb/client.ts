// OVSDB client: RFC 7047 JSON-RPC 1.0 over a stream socket, with a monitor-fed cache and automatic
// reconnection. Schema-agnostic: it works for Open_vSwitch as well as OVN_Northbound.
//
// Lifecycle: a loop dials the remote (rotating through cluster members), checks in the _Server
// database that the member is the leader of a clustered database (cluster.ts), fetches the schema
// once, sets up a monitor and only then counts as "online". Calls made while offline wait (bounded)
// for the next online period; calls in flight when a connection drops are rejected with
// OvsdbOutcomeUnknownError, because whether a transaction committed cannot be known. A write
// refused with "not leader" committed nothing: it is sent again on the next leader. Every request
// has a deadline, connected or not.

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

import { type CacheSnapshot, type RowChange, TableCache, type TableUpdates, type TableUpdates2 } from './cache';
import { MemberUnusableError, SERVER_COLUMNS, SERVER_DATABASE, SERVER_MONITOR_ID, isNotLeaderError, memberStatus, unusableReason } from './cluster';
import { OvsdbConfigError, OvsdbConnectionError, OvsdbError, OvsdbOutcomeUnknownError, OvsdbTimeoutError, rpcError } from './errors';
import { JsonSplitter } from './framing';
import { monitorCondRequests, monitorRequests, monitoredColumns } from './monitor';
import { InactivityProbe } from './probe';
import { type Remote, RemoteRotation, type SslFiles, dialRemote, formatRemote, parseRemotes } from './remote';
import { type DatabaseSchema, assertDatabaseSchema, decodeRow } from './schema';
import type { MonitorSpec, Operation, OperationResult, Row, WireRow } from './types';

/** The subset of pino's API the client uses. */
export interface OvsdbLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface OvsdbClientOptions {
  /** "unix:/path", "tcp:host:port", "ssl:host:port", or a comma-separated list (cluster members). */
  remote: string;
  database: string;
  /** Tables (and columns) to replicate into `cache`. Undefined: every table; {}: no monitor. */
  monitor?: MonitorSpec;
  logger?: OvsdbLogger;
  /** Key, certificate and CA files for ssl: remotes. */
  ssl?: SslFiles;
  /** Delay between connection attempts, doubling from min up to max. Default 50 ms .. 2 s. */
  backoffMs?: { min: number; max: number };
  /** How long calls made while disconnected wait for a connection. Default 10 s. */
  offlineWaitMs?: number;
  /** Send an echo after this long without receiving anything. Default 5 s; 0 disables probing. */
  probeIntervalMs?: number;
  /** Drop the connection if nothing arrives this long after the probe. Default 10 s. */
  probeTimeoutMs?: number;
  /** Give up one dial attempt after this long. Default 5 s. */
  dialTimeoutMs?: number;
  /** Every request fails after this long, sent or not (a member without quorum holds writes). Default 10 s. */
  requestTimeoutMs?: number;
  /** Use only the leader of a clustered database (default true), as ovsdb-idl's leader_only. */
  leaderOnly?: boolean;
}

export interface OvsdbClientEvents {
  /** A session is up (schema known, monitor snapshot in the cache). Fires after every (re)connection. */
  connected: [];
  /** Like 'connected', but only after a lost connection was re-established. */
  reconnected: [];
  /** An online session was lost; the client is already trying to reconnect. */
  disconnected: [Error];
}

/** A request in flight or waiting for a connection; see request(). */
export interface PendingRequest {
  id: number;
  result: Promise<unknown>;
}

interface Call {
  id: number;
  method: string;
  params: unknown[];
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  sent: boolean;
  /** Sent on a connection that died before the reply: reported once the cache is fresh again. */
  lost?: OvsdbOutcomeUnknownError;
  offlineTimer?: NodeJS.Timeout;
  deadlineTimer?: NodeJS.Timeout;
  /** Runs synchronously when the reply arrives, before any later message is handled. */
  onResult?: (result: unknown) => void;
}

interface Session {
  remote: Remote;
  sock: Socket;
  splitter: JsonSplitter;
  probe: InactivityProbe;
  established: boolean;
  /** The _Server Database rows of this member, by uuid (leaderOnly). */
  serverRows?: Map<string, Record<string, unknown>>;
  /** Messages written in this event-loop turn, sent together at its end (see write()). */
  outbox?: string[];
}

interface Message {
  id?: unknown;
  method?: unknown;
  params?: unknown;
  result?: unknown;
  error?: unknown;
}

const MONITOR_ID = 'cache';
const NO_LOG: OvsdbLogger = { debug() {}, info() {}, warn() {}, error() {} };

export class OvsdbClient extends EventEmitter<OvsdbClientEvents> {
  readonly cache = new TableCache();
  readonly database: string;

  private readonly remotes: RemoteRotation;
  private readonly log: OvsdbLogger;
  private readonly backoff: { min: number; max: number };
  private readonly offlineWaitMs: number;
  private readonly probeIntervalMs: number;
  private readonly probeTimeoutMs: number;
  private readonly dialTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  /** Highest Raft index seen on any member: a member behind it is stale. */
  private seenIndex = 0;

  private _schema: DatabaseSchema | undefined;
  private monitoredColumns: Map<string, string[]> | undefined;
  private monitorMethod: 'monitor_cond' | 'monitor' = 'monitor_cond';
  private session: Session | undefined;
  private online = false;
  private everOnline = false;
  private closed = false;
  /** Set when the client gave up because of its configuration; reported by later calls. */
  private fatal: Error | undefined;
  private loopStarted = false;
  private lastError: Error | undefined;
  private nextId = 1;
  private readonly calls = new Map<number, Call>();
  private readonly onlineWaiters = new Set<{ resolve: () => void; reject: (e: Error) => void }>();
  private readonly waiters = new Set<(err: Error) => void>();
  private wakeSleep: (() => void) | undefined;

  constructor(private readonly opts: OvsdbClientOptions) {
    super();
    this.database = opts.database;
    this.remotes = new RemoteRotation(parseRemotes(opts.remote));
    if (!opts.ssl && this.remotes.remotes.some((r) => r.kind === 'ssl')) {
      throw new OvsdbConfigError(`remote "${opts.remote}" uses ssl: but no ssl {key, cert, ca} files were given`);
    }
    this.log = opts.logger ?? NO_LOG;
    this.backoff = opts.backoffMs ?? { min: 50, max: 2000 };
    this.offlineWaitMs = opts.offlineWaitMs ?? 10_000;
    this.probeIntervalMs = opts.probeIntervalMs ?? 5000;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 10_000;
    this.dialTimeoutMs = opts.dialTimeoutMs ?? 5000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
  }

  get connected(): boolean {
    return this.online;
  }

  /** The member the client is online with (the leader of a cluster), e.g. for logs. */
  get currentRemote(): string | undefined {
    return this.online && this.session ? formatRemote(this.session.remote) : undefined;
  }

  /** The schema fetched on the first connection; undefined before that. */
  get schema(): DatabaseSchema | undefined {
    return this._schema;
  }

  /**
   * Starts the connection loop (if not running) and resolves once online: connected, schema known
   * and the monitor's initial content in `cache`. Retries with backoff until then, so it may be
   * called before the server is up. Rejects only if the client is closed or misconfigured.
   */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    const p = this.online ? Promise.resolve() : new Promise<void>((resolve, reject) => this.onlineWaiters.add({ resolve, reject }));
    if (!this.loopStarted) {
      this.loopStarted = true;
      void this.loop();
    }
    return p;
  }

  /**
   * Runs a transaction. Rejects with OvsdbError if any operation (or the commit) failed, with
   * OvsdbConnectionError if no usable member was reached in time (nothing was sent), and with its
   * subclass OvsdbOutcomeUnknownError if it was sent but no reply came (dropped, or past the
   * deadline): it may have committed.
   */
  async transact(ops: Operation[], opts: { signal?: AbortSignal } = {}): Promise<OperationResult[]> {
    const { id, result } = this.request('transact', [this.database, ...ops]);
    const onAbort = (): void => this.cancel(id);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let results: (OperationResult | null)[];
    try {
      if (opts.signal?.aborted) onAbort();
      results = (await result) as (OperationResult | null)[];
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      if (r && typeof r.error === 'string') throw transactError(ops, i, r);
    }
    return results as OperationResult[];
  }

  /** Round trip to the server; resolves with the params it echoed. */
  async echo(...params: unknown[]): Promise<unknown[]> {
    return (await this.request('echo', params).result) as unknown[];
  }

  /**
   * Asks the server to cancel a request (RFC 7047 4.1.4): only a transaction blocked in a "wait"
   * operation can be; it then fails with OvsdbError "canceled" (a request that already completed
   * keeps its result). A request still waiting for a connection is failed locally.
   */
  cancel(id: number): void {
    const call = this.calls.get(id);
    if (!call) return;
    if (!call.sent) {
      this.settle(call, new OvsdbError('canceled', 'canceled before it was sent', undefined, `ovsdb ${call.method} canceled`));
      return;
    }
    const s = this.session;
    if (!s) return;
    this.write(s, { method: 'cancel', params: [id], id: null });
    // ovsdb-server 3.x drops a canceled trigger without replying (RFC 7047 promises a "canceled"
    // error). It handles a session's messages in order, so once an echo sent after the cancel is
    // answered, any reply to the canceled request would already have arrived: if none did, the
    // request is definitely canceled and not committed.
    this.sessionCall(s, 'echo', ['cancel', id], () => {
      const pending = this.calls.get(id);
      if (pending) this.settle(pending, new OvsdbError('canceled', undefined, undefined, `ovsdb ${pending.method} canceled`));
    }).catch(() => undefined);
  }

  /** Low-level JSON-RPC request; `id` can be given to cancel(). */
  request(method: string, params: unknown[]): PendingRequest {
    const id = this.nextId++;
    const result = new Promise<unknown>((resolve, reject) => {
      if (this.closed) {
        reject(this.closedError());
        return;
      }
      const call: Call = { id, method, params, resolve, reject, sent: false };
      this.calls.set(id, call);
      call.deadlineTimer = setTimeout(() => this.deadlinePassed(call), this.requestTimeoutMs);
      if (this.online && this.session) {
        this.send(this.session, call);
      } else {
        this.waitOnline(call);
      }
    });
    return { id, result };
  }

  private waitOnline(call: Call): void {
    clearTimeout(call.offlineTimer);
    call.offlineTimer = setTimeout(() => this.settle(call, this.notConnectedError(call, this.offlineWaitMs)), this.offlineWaitMs);
  }

  private notConnectedError(call: Call, ms: number): OvsdbConnectionError {
    const why = this.lastError ? ` (last error: ${this.lastError.message})` : '';
    return new OvsdbConnectionError(`ovsdb ${call.method}: not connected to ${this.opts.remote} (${this.database}, no usable member) within ${ms} ms${why}; nothing was sent`);
  }

  private deadlinePassed(call: Call): void {
    if (this.calls.get(call.id) !== call) return;
    if (call.lost) {
      this.settle(call, call.lost);
      return;
    }
    if (!call.sent) {
      this.settle(call, this.notConnectedError(call, this.requestTimeoutMs));
      return;
    }
    const s = this.session;
    const where = s ? formatRemote(s.remote) : this.opts.remote;
    this.settle(
      call,
      new OvsdbOutcomeUnknownError(
        `ovsdb ${call.method}: ${this.database} at ${where} did not answer within ${this.requestTimeoutMs} ms` +
          (call.method === 'transact' ? '; the transaction may or may not have been committed' : ''),
      ),
    );
    if (!s) return;
    // A member that holds a write this long has most likely lost its quorum: try another one.
    if (call.method === 'transact') this.write(s, { method: 'cancel', params: [call.id], id: null });
    if (this.remotes.remotes.length > 1) s.sock.destroy(new OvsdbConnectionError(`${formatRemote(s.remote)} did not answer a ${call.method} within ${this.requestTimeoutMs} ms`));
  }

  /**
   * Resolves with the first non-empty result of `predicate` over the cached rows of `table`: the
   * current ones first, then each row as it changes. `undefined`, `null` and `false` mean "no match".
   */
  waitFor<T>(table: string, predicate: (row: Row) => T | undefined | null | false, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) return reject(this.closedError());
      if (this.monitoredColumns && !this.monitoredColumns.has(table)) {
        return reject(new OvsdbConfigError(`waitFor: table ${table} is not monitored by this client`));
      }
      try {
        for (const row of this.cache.table(table).values()) {
          const r = predicate(row);
          if (r !== undefined && r !== null && r !== false) return resolve(r);
        }
      } catch (err) {
        return reject(err);
      }
      const finish = (): void => {
        clearTimeout(timer);
        this.cache.off('change', onChange);
        this.waiters.delete(fail);
      };
      const fail = (err: Error): void => {
        finish();
        reject(err);
      };
      const onChange = (c: RowChange): void => {
        if (c.table !== table || !c.new) return;
        let r: T | undefined | null | false;
        try {
          r = predicate(c.new);
        } catch (err) {
          fail(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (r !== undefined && r !== null && r !== false) {
          finish();
          resolve(r);
        }
      };
      const timer = setTimeout(
        () => fail(new OvsdbTimeoutError(`timed out after ${timeoutMs} ms waiting for a matching row in table ${table}`)),
        timeoutMs,
      );
      this.cache.on('change', onChange);
      this.waiters.add(fail);
    });
  }

  /** Decodes rows returned by a select on `table` with the fetched schema. */
  decodeRows(table: string, rows: WireRow[]): Row[] {
    const ts = this._schema?.tables[table];
    if (!ts) throw new OvsdbConfigError(`unknown table ${table}`);
    return rows.map((r) => decodeRow(ts, r));
  }

  /** Stops reconnecting, fails every pending call and waiter, and closes the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.online = false;
    this.wakeSleep?.();
    this.failAll(new OvsdbConnectionError('OVSDB client closed'));
    const s = this.session;
    if (s && !s.sock.destroyed) {
      await new Promise<void>((resolve) => {
        s.sock.once('close', () => resolve());
        s.sock.destroy();
      });
    }
  }

  private closedError(): Error {
    return this.fatal ?? new OvsdbConnectionError('OVSDB client is closed');
  }

  // ---- connection loop

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      const remote = this.remotes.current;
      let established = false;
      let error: Error;
      try {
        const sock = await dialRemote(remote, this.opts.ssl, this.dialTimeoutMs);
        if (this.closed) {
          sock.destroy();
          break;
        }
        ({ established, error } = await this.runSession(remote, sock));
      } catch (err) {
        error = err instanceof Error ? err : new Error(String(err));
      }
      if (this.closed) break;
      this.lastError = error;
      if (error instanceof OvsdbConfigError) {
        this.log.error({ err: error }, 'ovsdb client misconfigured, giving up');
        this.closed = true;
        this.fatal = error;
        this.failAll(error);
        break;
      }
      if (established) failures = 0;
      // During an election every member refuses for a second or so: keep cycling at a short pace.
      const delay = established ? this.backoff.min
        : Math.min(this.backoff.max, this.backoff.min * (error instanceof MemberUnusableError ? 4 : 2 ** failures));
      if (!established) failures++;
      const next = this.remotes.rotate();
      const fields = { remote: formatRemote(remote), next: formatRemote(next), err: error.message, retryInMs: delay };
      if (established || failures === 1) this.log.warn(fields, 'ovsdb connection failed or lost, reconnecting');
      else this.log.debug(fields, 'ovsdb reconnect attempt failed');
      await this.sleep(delay);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wakeSleep = done;
    });
  }

  /** Drives one connection; resolves when its socket is closed. */
  private runSession(remote: Remote, sock: Socket): Promise<{ established: boolean; error: Error }> {
    return new Promise((resolve) => {
      const probe = new InactivityProbe(
        this.probeIntervalMs,
        this.probeTimeoutMs,
        () => this.write(session, { method: 'echo', params: [], id: 'probe' }),
        () => {
          this.log.warn({ remote: formatRemote(remote) }, 'no reply to inactivity probe, dropping connection');
          sock.destroy(new OvsdbConnectionError(`no reply to inactivity probe within ${this.probeTimeoutMs} ms`));
        },
      );
      const session: Session = { remote, sock, splitter: new JsonSplitter(), probe, established: false };
      this.session = session;
      let error: Error | undefined;
      const fail = (err: Error): void => {
        error ??= err;
        sock.destroy();
      };
      if (remote.kind !== 'unix') sock.setNoDelay(true);
      sock.on('data', (chunk: Buffer) => {
        probe.received();
        let texts: string[];
        try {
          texts = session.splitter.push(chunk);
        } catch (err) {
          fail(err as Error);
          return;
        }
        for (const text of texts) {
          let msg: Message;
          try {
            msg = JSON.parse(text) as Message;
          } catch (err) {
            fail(new Error(`malformed JSON from server: ${(err as Error).message}`));
            return;
          }
          this.handleMessage(session, msg);
        }
      });
      sock.on('error', (err) => {
        error ??= err;
      });
      sock.on('close', () => {
        this.sessionClosed(session, error ?? new OvsdbConnectionError(`connection to ${formatRemote(remote)} closed`));
        resolve({ established: session.established, error: error ?? new OvsdbConnectionError('connection closed') });
      });
      probe.start();
      this.handshake(session).catch((err: unknown) => fail(err instanceof Error ? err : new Error(String(err))));
    });
  }

  private async handshake(s: Session): Promise<void> {
    if (this.opts.leaderOnly !== false) await this.checkMember(s);
    if (!this._schema) {
      let schema: unknown;
      try {
        schema = await this.sessionCall(s, 'get_schema', [this.database]);
      } catch (err) {
        // A server without the database will not grow one by retrying: fail connect() clearly.
        if (err instanceof OvsdbError && err.error === 'unknown database') {
          throw new OvsdbConfigError(`${formatRemote(s.remote)} has no database ${this.database}`);
        }
        throw err;
      }
      assertDatabaseSchema(schema);
      this.monitoredColumns = monitoredColumns(schema, this.opts.monitor);
      this.cache.configure(schema, Object.fromEntries(this.monitoredColumns));
      this._schema = schema;
    }
    const columns = this.monitoredColumns ?? new Map<string, string[]>();
    if (columns.size === 0) {
      this.goOnline(s, new Map());
      return;
    }
    const accept = (snap: CacheSnapshot): void => this.goOnline(s, snap);
    if (this.monitorMethod === 'monitor_cond') {
      try {
        await this.sessionCall(s, 'monitor_cond', [this.database, MONITOR_ID, monitorCondRequests(columns)], (r) =>
          accept(this.cache.snapshotFromUpdate2(r as TableUpdates2)),
        );
        return;
      } catch (err) {
        if (!(err instanceof OvsdbError && err.error === 'unknown method')) throw err;
        this.log.info({ remote: formatRemote(s.remote) }, 'server lacks monitor_cond, using monitor');
        this.monitorMethod = 'monitor';
      }
    }
    await this.sessionCall(s, 'monitor', [this.database, MONITOR_ID, monitorRequests(columns)], (r) =>
      accept(this.cache.snapshotFromUpdate(r as TableUpdates)),
    );
  }

  /** Monitors this member's _Server status and refuses the member unless it may take writes. */
  private async checkMember(s: Session): Promise<void> {
    let initial: unknown;
    try {
      initial = await this.sessionCall(s, 'monitor', [SERVER_DATABASE, SERVER_MONITOR_ID, { Database: { columns: SERVER_COLUMNS } }]);
    } catch (err) {
      if (err instanceof OvsdbError && err.error === 'unknown database') return; // an old server: standalone only
      throw err;
    }
    s.serverRows = new Map();
    this.applyServerUpdate(s, initial);
    const reason = this.memberUnusable(s);
    if (reason) throw new MemberUnusableError(`${formatRemote(s.remote)} refused for ${this.database}: ${reason}`);
  }

  private memberUnusable(s: Session): string | undefined {
    const status = memberStatus(s.serverRows!.values(), this.database);
    const reason = unusableReason(status, this.seenIndex);
    if (!reason && status?.index !== undefined) this.seenIndex = Math.max(this.seenIndex, status.index);
    return reason;
  }

  private applyServerUpdate(s: Session, updates: unknown): void {
    const rows = (updates as { Database?: Record<string, { new?: Record<string, unknown> }> } | null)?.Database ?? {};
    for (const [uuid, u] of Object.entries(rows)) {
      if (u.new) s.serverRows!.set(uuid, u.new);
      else s.serverRows!.delete(uuid);
    }
  }

  /**
   * Runs synchronously inside the monitor reply's handler, so no update notification that follows
   * the reply can be applied to the stale cache before the snapshot replaces it.
   */
  private goOnline(s: Session, snapshot: CacheSnapshot): void {
    if (this.closed || this.session !== s) return;
    try {
      this.cache.replace(snapshot);
    } catch (err) {
      this.log.error({ err }, 'ovsdb cache change listener threw');
    }
    s.established = true;
    this.online = true;
    this.lastError = undefined;
    const again = this.everOnline;
    this.everOnline = true;
    this.log.info({ remote: formatRemote(s.remote), database: this.database }, again ? 'ovsdb reconnected' : 'ovsdb connected');
    for (const call of [...this.calls.values()]) if (call.lost) this.settle(call, call.lost);
    for (const call of this.calls.values()) {
      if (!call.sent) {
        clearTimeout(call.offlineTimer);
        this.send(s, call);
      }
    }
    for (const w of this.onlineWaiters) w.resolve();
    this.onlineWaiters.clear();
    this.safeEmit('connected');
    if (again) this.safeEmit('reconnected');
  }

  /** A throwing listener must not take the session down with it. */
  private safeEmit(event: 'connected' | 'reconnected'): void {
    try {
      this.emit(event);
    } catch (err) {
      this.log.error({ err, event }, 'ovsdb client event listener threw');
    }
  }

  private sessionClosed(s: Session, error: Error): void {
    s.probe.stop();
    if (this.session === s) this.session = undefined;
    const wasOnline = this.online && s.established;
    this.online = false;
    // Everything sent so far went over this socket: its fate is unknown. Callers undo by reading
    // the cache, which misses what the lost transaction may have committed: report the loss only
    // once the next session's snapshot is in the cache (or at the deadline).
    for (const call of [...this.calls.values()]) {
      if (call.sent && !call.lost) {
        const lost = new OvsdbOutcomeUnknownError(
          `ovsdb ${call.method}: connection to ${this.database} at ${formatRemote(s.remote)} lost before the reply (${error.message})` +
            (call.method === 'transact' ? '; the transaction may or may not have been committed' : ''),
        );
        // The session's own calls (handshake) have no deadline and fail at once.
        if (call.deadlineTimer) call.lost = lost;
        else this.settle(call, lost);
      }
    }
    if (wasOnline) {
      this.log.warn({ remote: formatRemote(s.remote), err: error.message }, 'ovsdb connection lost');
      try {
        this.emit('disconnected', error);
      } catch (err) {
        this.log.error({ err, event: 'disconnected' }, 'ovsdb client event listener threw');
      }
    }
  }

  // ---- messages

  private handleMessage(s: Session, msg: Message): void {
    if (typeof msg.method === 'string') {
      this.handleServerRequest(s, msg.method, msg.params, msg.id);
      return;
    }
    if (typeof msg.id !== 'number') return; // e.g. the reply to our inactivity probe
    const call = this.calls.get(msg.id);
    if (!call || !call.sent) return;
    if (call.method === 'transact' && refusedAsNotLeader(msg)) {
      // Nothing was committed: send it again once connected to the (new) leader.
      call.sent = false;
      this.waitOnline(call);
      this.log.info({ remote: formatRemote(s.remote) }, 'write refused by a member that is not the leader, reconnecting');
      s.sock.destroy(new OvsdbConnectionError(`${formatRemote(s.remote)} is not the leader of ${this.database}`));
      return;
    }
    if (msg.error !== undefined && msg.error !== null) {
      this.settle(call, rpcError(call.method, msg.error));
      return;
    }
    this.calls.delete(call.id);
    clearTimeout(call.deadlineTimer);
    if (call.onResult) {
      try {
        call.onResult(msg.result);
      } catch (err) {
        call.reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
    }
    call.resolve(msg.result);
  }

  private handleServerRequest(s: Session, method: string, params: unknown, id: unknown): void {
    const p = Array.isArray(params) ? params : [];
    switch (method) {
      case 'echo':
        // The server's own inactivity probe: unanswered, it drops us.
        this.write(s, { id, result: p, error: null });
        this.log.debug({ remote: formatRemote(s.remote) }, 'answered server echo');
        return;
      case 'update2':
      case 'update3':
      case 'update': {
        if (p[0] === SERVER_MONITOR_ID && s.serverRows) {
          this.applyServerUpdate(s, p[1]);
          const reason = this.memberUnusable(s);
          if (reason) {
            this.log.warn({ remote: formatRemote(s.remote), reason }, 'ovsdb member no longer usable, reconnecting');
            s.sock.destroy(new OvsdbConnectionError(`${formatRemote(s.remote)} no longer usable for ${this.database}: ${reason}`));
          }
          return;
        }
        if (p[0] !== MONITOR_ID || !s.established) return;
        try {
          if (method === 'update') this.cache.applyUpdate(p[1] as TableUpdates);
          else this.cache.applyUpdate2((method === 'update2' ? p[1] : p[2]) as TableUpdates2);
        } catch (err) {
          this.log.error({ err }, 'applying ovsdb monitor update failed');
        }
        return;
      }
      default:
        if (id !== null && id !== undefined) this.write(s, { id, result: null, error: { error: 'unknown method', details: method } });
    }
  }

  private sessionCall(s: Session, method: string, params: unknown[], onResult?: (result: unknown) => void): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const call: Call = { id: this.nextId++, method, params, resolve, reject, sent: false, onResult };
      this.calls.set(call.id, call);
      this.send(s, call);
    });
  }

  private send(s: Session, call: Call): void {
    call.sent = true;
    this.write(s, { method: call.method, params: call.params, id: call.id });
  }

  /**
   * Queues one message; what the turn's callbacks wrote goes out in one write at its end. With
   * many requests in flight (100 attaches) that is one system call for many transactions instead
   * of one each, and ovsdb-server reads them in one go.
   */
  private write(s: Session, msg: object): void {
    if (s.sock.destroyed) return;
    // JSON-RPC 1.0: no "jsonrpc" member, or ovsdb-server drops the connection.
    const text = JSON.stringify(msg);
    if (s.outbox) {
      s.outbox.push(text);
      return;
    }
    s.outbox = [text];
    setImmediate(() => {
      const out = s.outbox!;
      s.outbox = undefined;
      if (!s.sock.destroyed) s.sock.write(out.length === 1 ? out[0] : out.join(''));
    });
  }

  private settle(call: Call, err: Error): void {
    clearTimeout(call.offlineTimer);
    clearTimeout(call.deadlineTimer);
    this.calls.delete(call.id);
    call.reject(err);
  }

  private failAll(err: Error): void {
    for (const call of [...this.calls.values()]) this.settle(call, err);
    for (const w of this.onlineWaiters) w.reject(err);
    this.onlineWaiters.clear();
    for (const fail of [...this.waiters]) fail(err);
  }
}

/** A transact reply that a follower (or a deposed leader) refused without committing anything. */
function refusedAsNotLeader(msg: Message): boolean {
  const e = msg.error as { error?: unknown; details?: unknown } | string | null | undefined;
  if (typeof e === 'string') return isNotLeaderError(e, undefined);
  if (e && typeof e === 'object') return isNotLeaderError(String(e.error), typeof e.details === 'string' ? e.details : undefined);
  if (!Array.isArray(msg.result)) return false;
  return (msg.result as (OperationResult | null)[]).some((r) => r !== null && typeof r.error === 'string' && isNotLeaderError(r.error, r.details));
}

function transactError(ops: Operation[], index: number, r: OperationResult): OvsdbError {
  const error = r.error ?? 'unknown error';
  const op = ops[index];
  const where = op
    ? `operation ${index} (${op.op}${'table' in op ? ` on ${op.table}` : ''})`
    : 'commit';
  return new OvsdbError(error, r.details, index, `ovsdb transaction failed at ${where}: ${error}${r.details ? `: ${r.details}` : ''}`);
}
