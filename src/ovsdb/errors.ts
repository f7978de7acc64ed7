// Errors raised by the OVSDB client.

/**
 * The server refused something: an operation of a transaction, the transaction's commit, or the
 * request itself ("unknown database", "unknown method", "canceled").
 */
export class OvsdbError extends Error {
  override name = 'OvsdbError';

  constructor(
    /** The RFC 7047 error string, e.g. "constraint violation", "referential integrity violation". */
    readonly error: string,
    readonly details: string | undefined,
    /**
     * Index of the failed operation in the ops given to transact(); equal to ops.length when the
     * operations succeeded but the commit failed; undefined for a request-level error.
     */
    readonly op: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** The connection is down, was lost before a reply came, or the client was closed. */
export class OvsdbConnectionError extends Error {
  override name = 'OvsdbConnectionError';
}

/**
 * A request was sent but its reply never came (the connection dropped, or the deadline passed):
 * a transaction may or may not have been committed. Callers undo by what it would have created.
 */
export class OvsdbOutcomeUnknownError extends OvsdbConnectionError {
  override name = 'OvsdbOutcomeUnknownError';
}

/** waitFor() gave up. */
export class OvsdbTimeoutError extends Error {
  override name = 'OvsdbTimeoutError';
}

/** The client was configured in a way the server's schema cannot satisfy: retrying will not help. */
export class OvsdbConfigError extends Error {
  override name = 'OvsdbConfigError';
}

/** Normalizes the "error" member of a JSON-RPC reply (a string or an {error, details} object). */
export function rpcError(method: string, wire: unknown): OvsdbError {
  if (typeof wire === 'object' && wire !== null) {
    const o = wire as { error?: unknown; details?: unknown };
    const error = typeof o.error === 'string' ? o.error : JSON.stringify(wire);
    const details = typeof o.details === 'string' ? o.details : undefined;
    return new OvsdbError(error, details, undefined, `ovsdb ${method} failed: ${error}${details ? `: ${details}` : ''}`);
  }
  const error = String(wire);
  return new OvsdbError(error, undefined, undefined, `ovsdb ${method} failed: ${error}`);
}
