// Group commit: the transactions that callers start in the same event-loop turn go to the server
// as ONE transaction, so ovs-vswitchd sees one change and reconfigures once for all of them (a
// port add costs it a reconfiguration, not our code). Each caller keeps its own view: results
// aligned with its own ops, its uuid-names local to its ops, its ops all-or-nothing. When the
// merged transaction fails, each part is sent again alone, so only the bad part fails.
import { OvsdbError } from './errors';
import type { Atom, Condition, Mutation, Operation, OperationResult, WireRow, WireValue } from './types';

/** What is grouped: an OvsdbClient, or anything with its transact(). */
export interface Transactor {
  transact(ops: Operation[]): Promise<OperationResult[]>;
}

export interface GroupCommitOptions {
  /** Most parts in one merged transaction; a full batch goes at once. Default 64. */
  maxParts?: number;
}

interface Part {
  ops: Operation[];
  resolve: (results: OperationResult[]) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit implements Transactor {
  private batch: Part[] = [];
  private readonly maxParts: number;

  constructor(private readonly db: Transactor, opts: GroupCommitOptions = {}) {
    this.maxParts = opts.maxParts ?? 64;
  }

  transact(ops: Operation[]): Promise<OperationResult[]> {
    // A wait that may block would hold every other part until it gives up: it goes alone, after
    // what was asked before it.
    if (ops.some(blocks)) {
      this.flush();
      return this.db.transact(ops);
    }
    return new Promise((resolve, reject) => {
      // The batch closes after the turn's I/O callbacks (setImmediate): the requests that woke on
      // different sockets join it. Closing at the end of the caller's microtasks merged nothing
      // under 100 concurrent attaches (1.0 part per transaction, against 18.6 this way).
      if (this.batch.length === 0) setImmediate(() => this.flush());
      this.batch.push({ ops, resolve, reject });
      if (this.batch.length >= this.maxParts) this.flush();
    });
  }

  private flush(): void {
    const parts = this.batch;
    if (parts.length === 0) return; // already sent: it was full, or a blocking wait came
    this.batch = [];
    if (parts.length === 1) {
      this.db.transact(parts[0].ops).then(parts[0].resolve, parts[0].reject);
      return;
    }
    const merged = parts.flatMap((p, i) => p.ops.map((op) => renameOp(op, `g${i}_`)));
    this.db.transact(merged).then(
      (results) => {
        let at = 0;
        for (const p of parts) {
          p.resolve(results.slice(at, at + p.ops.length));
          at += p.ops.length;
        }
      },
      (err: unknown) => {
        // Lost reply or no connection: every part shares that fate, as it would have alone.
        if (!(err instanceof OvsdbError)) {
          for (const p of parts) p.reject(err);
          return;
        }
        for (const p of parts) {
          // The refused transaction was answered: an empty part's barrier (every earlier commit
          // is in the monitor cache) holds already.
          if (p.ops.length === 0) p.resolve([]);
          else this.db.transact(p.ops).then(p.resolve, p.reject);
        }
      },
    );
  }
}

/** A wait with no timeout, or a non-zero one, keeps the transaction open on the server. */
function blocks(op: Operation): boolean {
  return op.op === 'wait' && op.timeout !== 0;
}

/**
 * The op with its uuid-name and every named-uuid it refers to prefixed, so parts merged into one
 * transaction never collide ("g0_" + name cannot equal "g1_" + another: the digits end at "_").
 */
export function renameOp(op: Operation, prefix: string): Operation {
  const v = (x: WireValue): WireValue => renameValue(x, prefix);
  const where = (w: Condition[]): Condition[] => w.map(([c, fn, x]) => [c, fn, v(x)]);
  const row = (r: WireRow): WireRow => Object.fromEntries(Object.entries(r).map(([c, x]) => [c, v(x)]));
  switch (op.op) {
    case 'insert': {
      const out = { ...op, row: row(op.row) };
      if (op['uuid-name'] !== undefined) out['uuid-name'] = prefix + op['uuid-name'];
      return out;
    }
    case 'select':
    case 'delete':
      return { ...op, where: where(op.where) };
    case 'update':
      return { ...op, where: where(op.where), row: row(op.row) };
    case 'mutate':
      return { ...op, where: where(op.where), mutations: op.mutations.map(([c, m, x]): Mutation => [c, m, v(x)]) };
    case 'wait':
      return { ...op, where: where(op.where), rows: op.rows.map(row) };
    default:
      return op;
  }
}

// By the wire grammar, not by shape: a set of two strings ["set", ["named-uuid", "x"]] holds no
// reference, though its inner array looks like one.
function renameValue(v: WireValue, prefix: string): WireValue {
  if (!Array.isArray(v)) return v;
  switch (v[0]) {
    case 'set':
      return ['set', v[1].map((a) => renameAtom(a, prefix))];
    case 'map':
      return ['map', v[1].map(([k, x]): [Atom, Atom] => [renameAtom(k, prefix), renameAtom(x, prefix)])];
    default:
      return renameAtom(v, prefix);
  }
}

function renameAtom(a: Atom, prefix: string): Atom {
  return Array.isArray(a) && a[0] === 'named-uuid' ? ['named-uuid', prefix + a[1]] : a;
}
