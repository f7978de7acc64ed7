// The plugin protocol as dockerd speaks it (POST /<Method>, the plugin Accept header), over
// kept-alive connections like Go's http client, so the figures are the plugin's and not the
// cost of a new connection per call.
import * as http from 'node:http';

const HEADERS = { Accept: 'application/vnd.docker.plugins.v1.2+json', 'User-Agent': 'Go-http-client/1.1' };

export class PluginError extends Error {
  constructor(readonly method: string, readonly status: number, readonly body: unknown) {
    super(`${method}: HTTP ${status}: ${typeof body === 'string' ? body : JSON.stringify(body)}`);
  }
}

export class PluginClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });

  constructor(readonly socket: string) {}

  /** One call; resolves with the parsed answer, throws PluginError unless HTTP 200. */
  call<T = Record<string, unknown>>(method: string, body?: unknown, timeoutMs = 120_000): Promise<T> {
    const payload = body === undefined ? '' : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socket,
          agent: this.agent,
          method: 'POST',
          path: `/${method}`,
          headers: { ...HEADERS, 'Content-Length': String(Buffer.byteLength(payload)) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : {};
            } catch {
              /* keep the text */
            }
            if (res.statusCode === 200) resolve(parsed as T);
            else reject(new PluginError(method, res.statusCode ?? 0, parsed));
          });
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} on ${this.socket}: no answer in ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
