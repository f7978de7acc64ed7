// Minimal HTTP over a unix socket (dockerd's API, the plugin's socket) with node's http module.
import * as http from 'http';

export interface UnixHttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export function unixRequest(
  socketPath: string,
  method: string,
  path: string,
  opts: { body?: string | Buffer; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<UnixHttpResponse> {
  return new Promise((resolve, reject) => {
    const body = opts.body ?? '';
    const req = http.request(
      {
        socketPath,
        method,
        path,
        agent: false, // one connection per request: no pooled socket can outlive a restarted server
        headers: { 'Content-Length': String(Buffer.byteLength(body)), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${path} on ${socketPath}: no answer in ${opts.timeoutMs ?? 30_000} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
