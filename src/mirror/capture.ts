// The capture stream (POST /ocn/v1/capture on the plugin socket): a temporary mirror of an
// endpoint to a veth made for it, `tcpdump -U -w -` on that veth run by the daemon, its pcap
// streamed as the response body for N seconds. The mirror and the veth go afterwards whatever
// happens: the time is up, tcpdump fails, or the client goes away (the response's close event,
// also when the CLI is killed). tcpdump runs under `timeout`, so a daemon killed meanwhile does
// not leave it running; the daemon's next start removes the mirror (Mirrors.reconcile).
import { spawn } from 'node:child_process';
import type http from 'node:http';
import type { Logger } from '../util/log';
import type { Mirrors } from './mirrors';
import { MirrorError } from './ovs-mirror';

export const CAPTURE_PATH = '/ocn/v1/capture';
export const MAX_CAPTURE_SECONDS = 3600;
const MAX_FILTER = 4096;
/** How long tcpdump may take to start listening (or to fail on the filter). */
const START_TIMEOUT_MS = 10_000;

export interface CaptureRequest {
  endpoint: string;
  seconds: number;
  filter?: string;
}

export function parseCaptureRequest(body: unknown): CaptureRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new MirrorError('INVALID_ARGUMENT', `capture: expected {"endpoint": ID, "seconds": N, "filter": EXPR}, got ${JSON.stringify(body)}`, 'params');
  const b = body as Record<string, unknown>;
  if (typeof b.endpoint !== 'string' || b.endpoint.length < 6) throw new MirrorError('INVALID_ARGUMENT', `capture: endpoint: ${JSON.stringify(b.endpoint)} is not an endpoint id; accepted: the id or a unique prefix of at least 6 characters`, 'endpoint');
  const s = b.seconds;
  if (typeof s !== 'number' || !Number.isInteger(s) || s < 1 || s > MAX_CAPTURE_SECONDS) throw new MirrorError('INVALID_ARGUMENT', `capture: seconds: ${JSON.stringify(s)}; accepted: an integer 1-${MAX_CAPTURE_SECONDS}`, 'seconds');
  if (b.filter !== undefined && (typeof b.filter !== 'string' || b.filter.length > MAX_FILTER)) throw new MirrorError('INVALID_ARGUMENT', `capture: filter: a tcpdump expression (a string of at most ${MAX_FILTER} characters) is expected`, 'filter');
  const filter = typeof b.filter === 'string' && b.filter.trim() ? b.filter.trim() : undefined;
  return { endpoint: b.endpoint, seconds: s, ...(filter ? { filter } : {}) };
}

/**
 * tcpdump on the capture veth: only frames received on it (-Q in: what OVS mirrored, never the
 * veth's own), written per packet (-U), the filter as one argument (no shell). `timeout` ends it
 * a little after the capture should have, should the daemon die meanwhile.
 */
export function tcpdumpCommand(tap: string, seconds: number, filter?: string): [string, string[]] {
  return ['timeout', ['--kill-after=2', String(seconds + 5), 'tcpdump', '-n', '-i', tap, '-Q', 'in', '-U', '-w', '-', ...(filter ? [filter] : [])]];
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      text += c;
      if (text.length > 65536) reject(new MirrorError('INVALID_ARGUMENT', 'capture: request body too large'));
    });
    req.on('end', () => {
      try {
        resolve(text.trim() ? JSON.parse(text) : {});
      } catch {
        reject(new MirrorError('INVALID_ARGUMENT', 'capture: the request body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

function sendError(res: http.ServerResponse, err: unknown): void {
  const status = err instanceof MirrorError ? (err.code === 'INVALID_ARGUMENT' ? 400 : err.code.endsWith('NOT_FOUND') ? 404 : 409) : 500;
  const body = JSON.stringify({ Err: err instanceof Error ? err.message : String(err), ...(err instanceof MirrorError ? { code: err.code, ...(err.field ? { field: err.field } : {}) } : {}) });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export interface CaptureDeps {
  mirrors: Pick<Mirrors, 'openCapture'>;
  log: Logger;
  ready?: () => Promise<void>;
}

/** How stopAll reaches a capture: asked before its tcpdump runs, it does not start. */
interface StopControl {
  stopped: boolean;
  stop?: () => void;
}

export interface CaptureRoute {
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
  /** Ends every running capture (tcpdump stopped, mirror and veth removed): for the daemon's stop. */
  stopAll(): Promise<void>;
}

export function captureRoute(d: CaptureDeps): CaptureRoute {
  const running = new Map<() => void, Promise<void>>();
  return {
    handle: (req, res) => {
      if (req.method !== 'POST') {
        sendError(res, new MirrorError('INVALID_ARGUMENT', `capture: ${req.method} ${CAPTURE_PATH}: use POST with {"endpoint": ID, "seconds": N, "filter": EXPR}`));
        return;
      }
      const control: StopControl = { stopped: false };
      const done = serveCapture(d, req, res, control).catch((err: unknown) => sendError(res, err));
      const key = (): void => { control.stopped = true; control.stop?.(); };
      running.set(key, done);
      void done.finally(() => running.delete(key));
    },
    stopAll: async () => {
      for (const stop of running.keys()) stop();
      await Promise.all(running.values());
    },
  };
}

async function serveCapture(d: CaptureDeps, req: http.IncomingMessage, res: http.ServerResponse, control: StopControl): Promise<void> {
  const c = parseCaptureRequest(await readJson(req));
  await d.ready?.();
  // The client may already be gone; from now on its leaving ends the capture.
  let gone = false;
  res.on('close', () => (gone = true));
  if (control.stopped) throw new MirrorError('UNSUPPORTED', 'capture: the daemon is stopping');
  const session = await d.mirrors.openCapture(c.endpoint);
  const log = d.log.child({ capture: session.id, endpoint: session.endpoint.id.slice(0, 12) });
  const [cmd, args] = tcpdumpCommand(session.tap, c.seconds, c.filter);
  const dump = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let streaming = false;
  let timer: NodeJS.Timeout | undefined;
  const stop = (): void => { if (dump.exitCode === null && dump.signalCode === null) dump.kill('SIGTERM'); };
  control.stop = stop;
  if (control.stopped) stop();
  const exited = new Promise<number | null>((resolve) => {
    dump.on('close', (code) => resolve(code));
    dump.on('error', (err) => { stderr += String(err); resolve(null); });
  });
  try {
    // Headers only once tcpdump listens: a bad filter is still an error answer, not an empty pcap.
    const listening = new Promise<boolean>((resolve) => {
      dump.stderr.setEncoding('utf8');
      dump.stderr.on('data', (s: string) => {
        stderr += s;
        if (stderr.includes('listening on')) resolve(true);
      });
      void exited.then(() => resolve(false));
      setTimeout(() => resolve(false), START_TIMEOUT_MS).unref();
    });
    if (!(await listening)) {
      stop();
      if (control.stopped) throw new MirrorError('UNSUPPORTED', 'capture: the daemon is stopping');
      throw new MirrorError('INVALID_ARGUMENT', `capture: tcpdump did not start${c.filter ? ` (filter ${JSON.stringify(c.filter)})` : ''}: ${stderr.trim() || 'no output'}`, c.filter ? 'filter' : undefined);
    }
    if (gone) return;
    res.writeHead(200, { 'Content-Type': 'application/vnd.tcpdump.pcap', 'X-Capture-Mirror': session.id });
    streaming = true;
    dump.stdout.pipe(res, { end: false });
    res.on('close', stop);
    timer = setTimeout(stop, c.seconds * 1000);
    log.info({ seconds: c.seconds, filter: c.filter }, 'capture started');
    await exited;
  } finally {
    clearTimeout(timer);
    stop();
    await exited;
    await session.close().catch((err: unknown) => log.warn({ err: String(err) }, 'capture mirror not removed'));
    // The body ends once the mirror and veth are gone: a client that saw the end may count on it.
    if (streaming) {
      res.end();
      log.info({ clientGone: gone, tcpdump: stderr.trim().split('\n').slice(-3).join('; ') }, 'capture ended');
    }
  }
}
