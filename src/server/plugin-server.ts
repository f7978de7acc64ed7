// HTTP over a unix socket: the one generic handler behind every protocol path.
// dockerd sends POST with no Content-Type and sometimes an empty body; it decodes every 200 answer
// as JSON, so even "nothing" is "{}". Errors go out as HTTP 500 {"Err"} (read by dockerd for both
// subsystems) plus "Error" for IPAM, which is the key an IPAM 200 answer would use.
import type { Request, Response } from 'express';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as http from 'node:http';
import * as path from 'node:path';
import { z } from '../protocol/zod';
import { Drivers, ROUTES, describeValidationError } from '../protocol/routes';
import { errorMessage, InputError } from '../util/errors';
import type { Logger } from '../util/log';
import type { JSONRPCServer } from 'json-rpc-2.0';
import { CONTROL_PATH } from './control';

export interface PluginServerOptions {
  socketPath: string;
  drivers: Drivers;
  /** JSON-RPC 2.0 control API served at CONTROL_PATH on the same socket. */
  control?: JSONRPCServer;
  logger: Logger;
  /** Resolves once the daemon's state is loaded; calls that need it wait for it. */
  ready: () => Promise<void>;
  /** Called at the start of every plugin-protocol request. */
  onRequest?: () => void;
  /** Further paths served on the socket (a streaming capture): path -> handler. */
  routes?: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>;
}

function ids(body: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (body && typeof body === 'object') {
    for (const k of ['NetworkID', 'EndpointID', 'PoolID', 'Address', 'Pool'] as const) {
      const v = (body as Record<string, unknown>)[k];
      if (typeof v === 'string' && v) out[k] = k.endsWith('ID') ? v.slice(0, 12) : v;
    }
  }
  return out;
}

const MAX_BODY = 4 << 20;

/**
 * Reads the request body as text. dockerd sends no Content-Type, so express's parsers (which
 * dispatch on it) add nothing here but their cost, a third of a no-op request's time.
 */
function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new InputError(`request body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A JSON answer written straight to the socket (res.json adds a charset lookup and re-encoding). */
function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Docker's protocol paths: `/<Subsystem>.<Method>`. */
const PROTOCOL_PATH = /^\/[A-Za-z]+\.[A-Za-z]+$/;

/**
 * The socket's handler. Docker's protocol paths are served here directly: their routes are
 * declared once (ROUTES) and need nothing of express but its per-request cost (its request and
 * response decoration, query parsing, router). Express serves the control API, loaded on its
 * first call: a daemon whose control API is never used does not carry it (2.5 MB, measured).
 */
export function createPluginApp(opts: Omit<PluginServerOptions, 'socketPath'>): Handler {
  let control: Handler | undefined;
  return (req, res) => {
    const urlPath = (req.url ?? '/').split('?')[0];
    if (req.method === 'POST' && PROTOCOL_PATH.test(urlPath)) {
      void serveProtocol(opts, urlPath, req, res);
      return;
    }
    const extra = opts.routes?.[urlPath];
    if (extra) {
      extra(req, res);
      return;
    }
    if (urlPath !== CONTROL_PATH) {
      sendJson(res, 404, { Err: `${req.method} ${urlPath}: not found` });
      return;
    }
    control ??= controlApp(opts);
    control(req, res);
  };
}

async function serveProtocol(opts: Omit<PluginServerOptions, 'socketPath'>, urlPath: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const route = ROUTES[urlPath];
  if (!route) {
    sendJson(res, 404, { Err: `${urlPath.slice(1)} is not implemented by this plugin` });
    return;
  }
  const started = process.hrtime.bigint();
  opts.onRequest?.();
  const method = urlPath.slice(1);
  let body: unknown;
  let outcome = 'ok';
  try {
    const text = (await readBody(req)).trim();
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      throw new InputError(`${method}: request body is not valid JSON`);
    }
    if (route.schema) {
      const parsed = route.schema.safeParse(body ?? {});
      if (!parsed.success) throw new InputError(`${method}: invalid request: ${describeValidationError(parsed.error)}`);
      body = parsed.data;
    }
    if (route.needsState) await opts.ready();
    const result = await route.call(opts.drivers, body);
    sendJson(res, 200, result);
  } catch (err) {
    outcome = 'error';
    const msg = errorMessage(err);
    const payload: Record<string, string> = { Err: msg };
    if (route.subsystem === 'IpamDriver') payload.Error = msg;
    sendJson(res, 500, payload);
    const level = err instanceof InputError || err instanceof z.core.$ZodError ? 'info' : 'warn';
    opts.logger[level]({ method, ...ids(body), err: msg }, 'request failed');
  } finally {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    opts.logger.info({ method, ...ids(body), ms: Math.round(ms * 1000) / 1000, outcome }, 'request');
  }
}

/** The control API's express app (JSON-RPC 2.0 at CONTROL_PATH), built on first use. */
function controlApp(opts: Omit<PluginServerOptions, 'socketPath'>): Handler {
  // Loaded here, not at the top: see createPluginApp.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const express = require('express') as typeof import('express');
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.post(CONTROL_PATH, async (req: Request, res: Response) => {
    if (!opts.control) { res.status(404).json({ Err: 'no control API' }); return; }
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      res.status(200).json({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } });
      return;
    }
    await opts.ready().catch(() => undefined);
    const answer = await opts.control.receive(body as Parameters<JSONRPCServer['receive']>[0]);
    res.status(200).json(answer ?? {});
  });
  app.use((req: Request, res: Response) => {
    res.status(404).json({ Err: `${req.method} ${req.path}: not found` });
  });
  return app;
}

/** Refuses to steal the socket of a live daemon; removes a stale one left by a crash. */
async function clearStaleSocket(socketPath: string): Promise<void> {
  if (!fs.existsSync(socketPath)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(socketPath);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another daemon is already listening on ${socketPath} (choose another --name)`);
  fs.unlinkSync(socketPath);
}

export async function listenPluginSocket(opts: PluginServerOptions): Promise<http.Server> {
  fs.mkdirSync(path.dirname(opts.socketPath), { recursive: true });
  await clearStaleSocket(opts.socketPath);
  const server = http.createServer(createPluginApp(opts));
  server.keepAliveTimeout = 60_000;
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.socketPath, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(opts.socketPath, 0o600);
  return server;
}
