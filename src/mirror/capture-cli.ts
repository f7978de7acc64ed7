// `ovs-container-network ctl capture ENDPOINT --seconds N [--filter EXPR] > file.pcap`: asks the
// running daemon for a capture and copies the pcap it streams to stdout. Interrupted (Ctrl-C,
// SIGTERM), it closes the request: the daemon sees the client go and removes the capture's
// mirror and veth at once.
import * as http from 'node:http';
import * as path from 'node:path';
import { InputError } from '../util/errors';
import { CAPTURE_PATH, MAX_CAPTURE_SECONDS, type CaptureRequest } from './capture';

export const CAPTURE_USAGE = `Usage: ovs-container-network ctl [--name NAME] [--plugin-dir DIR] capture ENDPOINT --seconds N [--filter EXPR] > file.pcap
  ENDPOINT  an endpoint id or a unique prefix of at least 6 characters (ctl endpoints.list)
  --seconds how long to capture, 1-${MAX_CAPTURE_SECONDS}
  --filter  a tcpdump filter expression, e.g. 'icmp or tcp port 80'`;

export interface CaptureArgs {
  socket: string;
  request: CaptureRequest;
}

export function parseCaptureArgs(argv: string[], env: NodeJS.ProcessEnv): CaptureArgs {
  let name = env.OCN_NAME ?? 'ovs-container-network';
  let dir = env.OCN_PLUGIN_DIR ?? '/run/docker/plugins';
  let seconds: number | undefined;
  let filter: string | undefined;
  const rest: string[] = [];
  const value = (flag: string, v: string | undefined): string => {
    if (v === undefined || v === '') throw new InputError(`${flag} needs a value\n${CAPTURE_USAGE}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--name') name = value(a, argv[++i]);
    else if (a === '--plugin-dir') dir = value(a, argv[++i]);
    else if (a === '--seconds') seconds = Number(value(a, argv[++i]));
    else if (a === '--filter') filter = value(a, argv[++i]);
    else if (a.startsWith('--')) throw new InputError(`unknown option ${a}\n${CAPTURE_USAGE}`);
    else rest.push(a);
  }
  if (rest[0] === 'capture') rest.shift();
  if (rest.length !== 1) throw new InputError(`one ENDPOINT is expected, got ${rest.length ? rest.join(' ') : 'none'}\n${CAPTURE_USAGE}`);
  if (seconds === undefined || !Number.isInteger(seconds) || seconds < 1 || seconds > MAX_CAPTURE_SECONDS) throw new InputError(`--seconds: an integer 1-${MAX_CAPTURE_SECONDS} is required\n${CAPTURE_USAGE}`);
  return { socket: path.join(dir, `${name}.sock`), request: { endpoint: rest[0], seconds, ...(filter ? { filter } : {}) } };
}

/** Streams the capture to `out`; resolves when the daemon ends it. */
export function streamCapture(args: CaptureArgs, out: NodeJS.WritableStream, signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGPIPE']): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(args.request);
    const req = http.request({ socketPath: args.socket, method: 'POST', path: CAPTURE_PATH, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } });
    // Nothing at all for the capture's time plus a margin: the daemon is stuck.
    req.setTimeout((args.request.seconds + 30) * 1000, () => req.destroy(new Error(`no answer from the daemon on ${args.socket}`)));
    const interrupted = (): void => {
      req.destroy();
      resolve();
    };
    for (const s of signals) process.once(s, interrupted);
    const done = (): void => { for (const s of signals) process.removeListener(s, interrupted); };
    req.on('error', (err) => { done(); reject(err); });
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          done();
          let msg = text;
          try { msg = (JSON.parse(text) as { Err?: string }).Err ?? text; } catch { /* not JSON */ }
          reject(new InputError(`capture failed (HTTP ${res.statusCode}): ${msg}`));
        });
        return;
      }
      res.pipe(out, { end: false });
      res.on('end', () => { done(); resolve(); });
      res.on('error', (err) => { done(); reject(err); });
    });
    req.end(body);
  });
}

export async function captureMain(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const args = parseCaptureArgs(argv, env);
  if (process.stdout.isTTY) throw new InputError(`capture writes a pcap to stdout: redirect it to a file (> capture.pcap) or a pipe (| tcpdump -r -)`);
  await streamCapture(args, process.stdout);
}
