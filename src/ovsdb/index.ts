// Public API of the OVSDB client.
export { OvsdbClient } from './client';
export type { OvsdbClientEvents, OvsdbClientOptions, OvsdbLogger, PendingRequest } from './client';
export { TableCache, applyModify, rowsEqual } from './cache';
export type { CacheSnapshot, RowChange, RowUpdate, RowUpdate2, TableCacheEvents, TableUpdates, TableUpdates2 } from './cache';
export { OvsdbConfigError, OvsdbConnectionError, OvsdbError, OvsdbOutcomeUnknownError, OvsdbTimeoutError } from './errors';
export { memberStatus, unusableReason } from './cluster';
export type { MemberStatus } from './cluster';
export { FramingError, JsonSplitter } from './framing';
export * as ops from './ops';
export { DEFAULT_OVSDB_PORT, RemoteError, formatRemote, parseRemote, parseRemotes } from './remote';
export type { Remote, SslFiles } from './remote';
export { columnKind, decodeRow, decodeValue, defaultValue } from './schema';
export type {
  AtomicType,
  BaseType,
  ColumnKind,
  ColumnSchema,
  ColumnType,
  DatabaseSchema,
  TableSchema,
} from './schema';
export type * from './types';
