// Errors a handler raises on purpose: their message goes to Docker (and the user) as is.

/** Bad input from the user: an option value, an address, a conflicting setting. */
export class InputError extends Error {
  override name = 'InputError';
}

/** Something the user asked for cannot be done right now (exhausted pool, address taken). */
export class ConflictError extends Error {
  override name = 'ConflictError';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
