// RFC 7047 wire types, shared by the client, the cache and the per-table helpers.

/** A UUID as it travels on the wire. */
export type UuidAtom = ['uuid', string];
/** A reference to a row inserted earlier in the same transaction. */
export type NamedUuidAtom = ['named-uuid', string];
export type Atom = string | number | boolean | UuidAtom | NamedUuidAtom;
export type WireSet = ['set', Atom[]];
export type WireMap = ['map', [Atom, Atom][]];
/** Any column value on the wire. */
export type WireValue = Atom | WireSet | WireMap;
export type WireRow = Record<string, WireValue>;

export type Condition = [column: string, fn: '==' | '!=' | 'includes' | 'excludes' | '<' | '<=' | '>' | '>=', value: WireValue];
export type Mutation = [column: string, mutator: 'insert' | 'delete' | '+=' | '-=' | '*=' | '/=' | '%=', value: WireValue];

export type Operation =
  | { op: 'insert'; table: string; row: WireRow; 'uuid-name'?: string }
  | { op: 'select'; table: string; where: Condition[]; columns?: string[] }
  | { op: 'update'; table: string; where: Condition[]; row: WireRow }
  | { op: 'mutate'; table: string; where: Condition[]; mutations: Mutation[] }
  | { op: 'delete'; table: string; where: Condition[] }
  | { op: 'wait'; table: string; where: Condition[]; columns: string[]; until: '==' | '!='; rows: WireRow[]; timeout?: number }
  | { op: 'commit'; durable: boolean }
  | { op: 'abort' }
  | { op: 'comment'; comment: string }
  | { op: 'assert'; lock: string };

export interface OperationResult {
  uuid?: UuidAtom;
  count?: number;
  rows?: WireRow[];
  error?: string;
  details?: string;
}

/**
 * A row as kept in the cache: decoded with the schema so callers never see wire tuples.
 * - scalar columns (min 1, max 1): the atom; uuids as plain strings
 * - optional columns (min 0, max 1): the atom or undefined
 * - set columns (max > 1): an array of atoms
 * - map columns: a Record keyed by the stringified key
 */
export type Scalar = string | number | boolean;
export type DecodedValue = Scalar | Scalar[] | Record<string, Scalar> | undefined;
export interface Row {
  _uuid: string;
  [column: string]: DecodedValue;
}

/** Which columns of which tables to monitor (undefined = all columns). */
export type MonitorSpec = Record<string, { columns?: readonly string[] }>;
