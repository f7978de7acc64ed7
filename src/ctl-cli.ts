// `ovs-container-network ctl METHOD [JSON]`: calls the running daemon's control API.
import * as http from 'node:http';
import * as path from 'node:path';
import { JSONRPCClient, JSONRPCErrorException } from 'json-rpc-2.0';
import { CONTROL_PATH } from './server/control';
import { InputError } from './util/errors';
import { captureMain, CAPTURE_USAGE } from './mirror/capture-cli';

const USAGE = `Usage: ovs-container-network ctl [--name NAME] [--plugin-dir DIR] METHOD [JSON-PARAMS]
Methods: networks.list, endpoints.list, pools.list, peers.get, tunnels.status,
  peers.set '["10.0.0.2","10.0.0.3"]' (or '{"peers": []}' to remove every peer),
  sg.list ['{"tenant": T}'], sg.get '{"name": N, "tenant": T}', sg.delete '{"name": N, "tenant": T}',
  sg.create / sg.update '{"name": "web", "tenant": "t1", "description": "...",
    "ingress": [{"protocol": "tcp", "ports": "80", "remote": "10.0.0.0/8"}, {"protocol": "icmp", "remote": {"group": "web"}}],
    "egress": [{"protocol": "all", "remote": "0.0.0.0/0"}]}',
  sg.attach / sg.detach '{"endpoint": ID-OR-PREFIX, "groups": ["web"]}',
  nat.list, nat.add '{"router": R, "external_ip": IP, "logical_ip": IP}', nat.remove '{"router": R, "external_ip": IP}',
  mirror.list, mirror.delete '{"id": ID}', mirror.create '{"endpoint": ID-OR-PREFIX | "network": ID, "direction": "both|in|out",
    "output": {"type": "interface", "name": "mir0"} | {"type": "gre"|"erspan", "remote_ip": IP, "key": N}}'
${CAPTURE_USAGE}`;

function post(socketPath: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'POST', path: CONTROL_PATH, headers: { 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let out = '';
      res.on('data', (c) => (out += c));
      res.on('end', () => resolve(out));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function ctlMain(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  let name = env.OCN_NAME ?? 'ovs-container-network';
  let dir = env.OCN_PLUGIN_DIR ?? '/run/docker/plugins';
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--name') name = argv[++i] ?? '';
    else if (argv[i] === '--plugin-dir') dir = argv[++i] ?? '';
    else rest.push(argv[i]);
  }
  if (rest[0] === 'capture') return captureMain(argv, env);
  const [method, params] = rest;
  if (!method) throw new InputError(USAGE);
  let parsed: unknown;
  try {
    parsed = params === undefined ? undefined : JSON.parse(params);
  } catch {
    throw new InputError(`parameters must be JSON: ${params}`);
  }
  // JSON-RPC params are by position or by name; a bare string or number is neither.
  if (parsed !== undefined && (parsed === null || typeof parsed !== 'object')) {
    throw new InputError(`parameters must be a JSON array or object, like '["10.0.0.2"]' or '{"peers": []}': ${params}`);
  }
  const sock = path.join(dir, `${name}.sock`);
  const client = new JSONRPCClient(async (req) => {
    const text = await post(sock, JSON.stringify(req));
    client.receive(JSON.parse(text));
  });
  let result: unknown;
  try {
    result = await client.request(method, parsed);
  } catch (err) {
    // The error's data carries what scripts branch on (SECURITY_GROUP_NOT_FOUND, the field).
    if (err instanceof JSONRPCErrorException && err.data !== undefined) throw new Error(`${err.message} ${JSON.stringify(err.data)}`);
    throw err;
  }
  console.log(JSON.stringify(result, null, 2));
}
