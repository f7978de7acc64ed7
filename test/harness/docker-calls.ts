// The requests a real dockerd 20.10 sent to a recording plugin, and what it answered:
// <repo>/../shared/docker-calls/<scenario>.jsonl (CI clones main next to shared).
// Tests must skip, not fail, when they are absent: check recordedAvailable() first.
import * as fs from 'fs';
import * as path from 'path';
import { sharedDir } from './paths';

export interface RecordedCall<Req = any, Resp = any> {
  /** HTTP method (always POST for the plugin protocol). */
  method: string;
  /** e.g. /NetworkDriver.CreateNetwork */
  path: string;
  headers: Record<string, string> | null;
  /** The request body as dockerd sent it (null for an empty body). */
  req: Req;
  status: number;
  resp: Resp;
  dur_ms: number;
  seq?: number;
  ts?: string;
  plugin?: string;
  scenario?: string;
}

/** A non-call line of a recording (scenario_start, cli_start, cli_end, ...). */
export interface RecordedEvent {
  event: string;
  [k: string]: unknown;
}

export function recordedDir(): string {
  return path.join(sharedDir(), 'docker-calls');
}

export function recordedAvailable(): boolean {
  try {
    return fs.readdirSync(recordedDir()).some((f) => f.endsWith('.jsonl'));
  } catch {
    return false;
  }
}

/** Scenario names (file names without .jsonl), sorted. [] when the recordings are absent. */
export function listRecordedScenarios(): string[] {
  if (!recordedAvailable()) return [];
  return fs
    .readdirSync(recordedDir())
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => f.slice(0, -'.jsonl'.length))
    .sort();
}

/** Every line of a recording, calls and events, in file order. */
export function loadRecordedLines(scenario: string): (RecordedCall | RecordedEvent)[] {
  const file = path.join(recordedDir(), scenario.endsWith('.jsonl') ? scenario : `${scenario}.jsonl`);
  if (!fs.existsSync(file)) {
    const have = listRecordedScenarios();
    throw new Error(`no recording ${file}${have.length ? ` (have: ${have.join(', ')})` : ' (recordings absent: check recordedAvailable())'}`);
  }
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as RecordedCall | RecordedEvent;
      } catch (e) {
        throw new Error(`${file}:${i + 1}: bad JSON: ${(e as Error).message}`);
      }
    });
}

/**
 * The plugin calls of one scenario (e.g. 'c_run_container'), in the order dockerd made them;
 * with `pathFilter` only those to that endpoint (e.g. '/NetworkDriver.CreateEndpoint' or
 * 'NetworkDriver.CreateEndpoint').
 */
export function loadRecorded(scenario: string, pathFilter?: string): RecordedCall[] {
  const want = pathFilter && (pathFilter.startsWith('/') ? pathFilter : `/${pathFilter}`);
  return loadRecordedLines(scenario).filter(
    (e): e is RecordedCall => typeof (e as RecordedCall).path === 'string' && (!want || (e as RecordedCall).path === want),
  );
}
