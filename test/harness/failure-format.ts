// How a node:test failure is written by failure-reporter.ts: name, file, the first lines of the
// assertion or exception behind it.
import * as path from 'node:path';

export interface FailEvent {
  type: 'test:fail';
  data: {
    name: string;
    nesting: number;
    file?: string;
    details: { duration_ms?: number; error?: TestError };
  };
}
interface TestError {
  message?: string;
  failureType?: string;
  cause?: unknown;
}
export type Event = FailEvent | { type: string; data?: unknown };

const MAX_LINES = 6;

/** The assertion or exception behind a node:test failure, as a few lines. */
export function errorLines(error: TestError | undefined): string[] {
  const cause = error?.cause;
  let text: string;
  if (cause instanceof Error) text = cause.message;
  else if (cause !== undefined && cause !== null) text = typeof cause === 'string' ? cause : JSON.stringify(cause);
  else text = error?.message ?? 'no error message';
  const lines = text.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  return lines.length > MAX_LINES ? [...lines.slice(0, MAX_LINES), `... (${lines.length - MAX_LINES} more lines)`] : lines;
}

/** One failure, or undefined for a parent that failed only because a subtest did. */
export function describeFailure(ev: FailEvent, cwd = process.cwd()): string | undefined {
  const { error } = ev.data.details;
  if (error?.failureType === 'subtestsFailed') return undefined;
  const file = ev.data.file ? path.relative(cwd, ev.data.file) : '?';
  const secs = ev.data.details.duration_ms === undefined ? '' : ` (${(ev.data.details.duration_ms / 1000).toFixed(1)} s)`;
  return [`FAIL ${ev.data.name}${secs}`, `  in ${file}`, ...errorLines(error).map((l) => `  | ${l}`)].join('\n') + '\n';
}

