// Raw Ethernet frames from inside a namespace (python3 AF_PACKET sockets): for isolation tests
// that must send what a hostile container could send, such as 802.1Q-tagged frames.
import { nsExecOk, nsSpawn } from './netns';
import { sleep } from './exec';

/** An EtherType for local experiments (IEEE 802): nothing on the path interprets it. */
const ETHERTYPE = 0x88b5;

const SEND = `
import socket, struct, sys
dev, marker, vid, count = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
src = bytes.fromhex(open('/sys/class/net/%s/address' % dev).read().strip().replace(':', ''))
tag = struct.pack('!HH', 0x8100, vid) if vid >= 0 else b''
frame = b'\\xff' * 6 + src + tag + struct.pack('!H', ${ETHERTYPE}) + marker + b'\\0' * 46
for _ in range(count): s.send(frame)
`;

const RECEIVE = `
import socket, sys, time
dev, seconds, markers = sys.argv[1], float(sys.argv[2]), [m.encode() for m in sys.argv[3:]]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((dev, 0))
s.settimeout(0.1)
seen = dict((m, 0) for m in markers)
print('ready', flush=True)
end = time.time() + seconds
while time.time() < end:
    try:
        data = s.recv(4096)
    except socket.timeout:
        continue
    for m in markers:
        if m in data: seen[m] += 1
print(' '.join('%s=%d' % (m.decode(), n) for m, n in seen.items()), flush=True)
`;

/** Sends `count` broadcast frames carrying `marker`, with an 802.1Q tag `vid` (-1: untagged). */
export async function sendFrames(ns: string, marker: string, vid: number, count = 5, dev = 'eth0'): Promise<void> {
  await nsExecOk(ns, 'python3', ['-c', SEND, dev, marker, String(vid), String(count)]);
}

/**
 * Listens on `dev` in `ns` while `during` runs (and `seconds` in all), then says how many frames
 * carrying each marker arrived.
 */
export async function framesSeen(ns: string, markers: string[], during: () => Promise<void>, seconds = 3, dev = 'eth0'): Promise<Record<string, number>> {
  const p = nsSpawn(ns, 'python3', ['-c', RECEIVE, dev, String(seconds), ...markers]);
  const exited = new Promise<void>((r) => p.child.on('exit', () => r()));
  for (let i = 0; i < 100 && !p.output().includes('ready'); i++) await sleep(50);
  if (!p.output().includes('ready')) throw new Error(`frame receiver in ${ns} did not start: ${p.output()}`);
  await during();
  await exited;
  const line = p.output().trim().split('\n').at(-1) ?? '';
  const out: Record<string, number> = {};
  for (const kv of line.split(' ')) {
    const [k, v] = kv.split('=');
    if (k && v !== undefined) out[k] = Number(v);
  }
  for (const m of markers) if (!(m in out)) throw new Error(`frame receiver in ${ns} said: ${p.output()}`);
  return out;
}
