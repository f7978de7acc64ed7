// Self-test of the test harness: a private dockerd, the busybox image, the outside world, the
// plugin runner (against a stub plugin) and the recorded-calls loader.
// Run: npx tsc -p tsconfig.json && node --test dist/test/harness/
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { listRecordedScenarios, loadRecorded, recordedAvailable } from './docker-calls';
import { Dockerd, ensureDockerInstalled, startDockerd } from './dockerd';
import { isAlive, run, runOk } from './exec';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from './image';
import { makeOutsideWorld, nsExec, OutsideWorld } from './netns';
import { ensureSystemOvs, kernelHasOvsModule, vsctl } from './ovs';
import { startPlugin } from './plugin';

const t0 = Date.now();
let d: Dockerd | undefined;
let world: OutsideWorld | undefined;
let tmp = '';
const log = (m: string) => process.stderr.write(`# [harness +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);

before(async () => {
  await ensureDockerInstalled();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocn-harness-'));
  const [dd, w] = await Promise.all([
    startDockerd({ name: `self${process.pid}` }),
    // not the default 203.0.113.0/24 'wan', so this can run beside tests that use that one
    makeOutsideWorld({ name: 'hself', hostIp: '198.51.100.1', outsideIp: '198.51.100.2', ipv6: { hostIp: '2001:db8:5100::1', outsideIp: '2001:db8:5100::2', prefixLen: 64 } }),
  ]);
  d = dd;
  world = w;
  log(`dockerd ${d.name} up in ${d.startupMs} ms (default bridge ${d.defaultBridge})`);
});

after(async () => {
  const base = d?.baseDir;
  await Promise.all([d?.cleanup(), world?.destroy()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  if (base) assert.equal(fs.existsSync(base), false, `${base} left behind`);
  log('cleaned up');
});

test('system OVS answers', async () => {
  await ensureSystemOvs();
  assert.match(await vsctl('--version'), /Open vSwitch/);
  assert.equal(typeof kernelHasOvsModule(), 'boolean');
});

test('run/runOk report exit codes and stderr', async () => {
  assert.deepEqual(await run('sh', ['-c', 'echo out; echo err >&2; exit 3']), { code: 3, stdout: 'out', stderr: 'err' });
  assert.equal((await run('/nonexistent/cmd')).code, 127);
  await assert.rejects(runOk('sh', ['-c', 'echo boom >&2; exit 1']), /boom/);
  assert.equal((await run('sleep', ['5'], { timeoutMs: 100 })).timedOut, true);
});

test('private dockerd runs the busybox image', async () => {
  assert.ok(d);
  const id = await ensureBusyboxImage(d);
  assert.match(id, /^sha256:/);
  assert.equal(await ensureBusyboxImage(d), id, 'second call is served from the tag');
  const r = await d.dockerOk(['run', '--rm', BUSYBOX_IMAGE, 'sh', '-c', 'echo hi']);
  assert.equal(r.stdout.trim(), 'hi');
  const fwd = await runOk('iptables', ['-S', 'FORWARD']);
  assert.match(fwd.stdout, /^-P FORWARD DROP/m, 'dockerd manages iptables like a real host');
  log('container ran');
});

test('outside world: ping and HTTP from the root namespace', async () => {
  assert.ok(world);
  // iputils-ping is not installed on these machines: busybox's ping
  const p = await run('busybox', ['ping', '-c1', '-W3', world.outsideIp]);
  assert.equal(p.code, 0, p.stdout + p.stderr);
  const p6 = await run('busybox', ['ping', '-6', '-c1', '-W3', world.outsideIp6!]);
  assert.equal(p6.code, 0, p6.stdout + p6.stderr);
  assert.equal((await world.exec('ip', ['route', 'show', 'default'])).stdout.trim().startsWith(`default via ${world.hostIp}`), true);
  fs.writeFileSync(path.join(tmp, 'hello.txt'), 'hello from outside\n');
  await world.httpServer(18080, tmp);
  const body = await new Promise<string>((resolve, reject) => {
    http.get({ host: world!.outsideIp, port: 18080, path: '/hello.txt', timeout: 5000 }, (res) => {
      let s = '';
      res.on('data', (c) => (s += c));
      res.on('end', () => resolve(s));
    }).on('error', reject);
  });
  assert.equal(body, 'hello from outside\n');
});

test('a container on a built-in bridge network reaches the outside world through NAT', async () => {
  assert.ok(d && world);
  await d.dockerOk(['network', 'create', '-d', 'bridge', 'hself-br']);
  const r = await d.docker(['run', '--rm', '--network', 'hself-br', BUSYBOX_IMAGE, 'ping', '-c1', '-W5', world.outsideIp]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  log('NAT ping ok');
});

test('dockerd survives kill -9 and a restart', async () => {
  assert.ok(d);
  const before = d.pid;
  await d.kill9();
  assert.equal(d.alive(), false);
  await d.restart();
  assert.notEqual(d.pid, before);
  const r = await d.dockerOk(['run', '--rm', BUSYBOX_IMAGE, 'sh', '-c', 'echo again']);
  assert.equal(r.stdout.trim(), 'again');
  log(`restarted after kill -9 in ${d.startupMs} ms`);
});

test('plugin runner against a stub plugin', async () => {
  const stub = path.join(tmp, 'stub-plugin.js');
  fs.writeFileSync(
    stub,
    `const http = require('http'), fs = require('fs'), path = require('path');
const a = process.argv.slice(2), get = (f) => a[a.indexOf(f) + 1];
if (a[0] !== 'daemon') process.exit(2);
const sock = path.join(get('--plugin-dir'), get('--name') + '.sock');
try { fs.unlinkSync(sock); } catch {}
const srv = http.createServer((req, res) => {
  let b = ''; req.on('data', (c) => (b += c)); req.on('end', () => {
    console.log(JSON.stringify({ level: 20, msg: 'call', path: req.url, ovsdb: get('--ovsdb') }));
    res.setHeader('Content-Type', 'application/vnd.docker.plugins.v1+json');
    if (req.url === '/Plugin.Activate') return res.end(JSON.stringify({ Implements: ['NetworkDriver', 'IpamDriver'] }));
    if (req.url === '/Fail') { res.statusCode = 500; return res.end(JSON.stringify({ Err: 'nope' })); }
    res.end(JSON.stringify({ path: req.url, body: b, accept: req.headers.accept, ctype: req.headers['content-type'] || null, len: req.headers['content-length'] }));
  });
});
srv.listen(sock);
process.on('SIGTERM', () => srv.close(() => process.exit(0)));
`,
  );
  const p = await startPlugin({ bin: stub, pluginDir: tmp, name: 'stub' });
  try {
    assert.equal(p.socket, path.join(tmp, 'stub.sock'));
    assert.ok(p.startupMs > 0 && p.startupMs < 10_000);
    const empty = await p.call<{ body: string; accept: string; ctype: null; len: string }>('NetworkDriver.GetCapabilities');
    assert.equal(empty.status, 200);
    assert.deepEqual([empty.body.body, empty.body.len, empty.body.ctype], ['', '0', null], 'empty body, as dockerd sends it');
    assert.equal(empty.body.accept, 'application/vnd.docker.plugins.v1.2+json');
    const withBody = await p.call<{ body: string }>('/NetworkDriver.CreateNetwork', { NetworkID: 'n1' });
    assert.deepEqual(JSON.parse(withBody.body.body), { NetworkID: 'n1' });
    assert.deepEqual(await p.call('Fail'), { status: 500, body: { Err: 'nope' } });
    const pid1 = p.pid;
    await p.restart();
    assert.notEqual(p.pid, pid1);
    assert.equal(isAlive(pid1), false);
    await p.kill9();
    assert.equal(p.alive(), false);
    await p.restart();
    assert.equal((await p.call('Plugin.Activate')).status, 200);
    assert.ok(p.logRecords().some((r) => r.path === '/NetworkDriver.CreateNetwork' && r.ovsdb === 'unix:/var/run/openvswitch/db.sock'));
  } finally {
    assert.deepEqual(await p.stop(), { code: 0, signal: null });
  }
  // a plugin that dies at start-up is reported with its output
  fs.writeFileSync(path.join(tmp, 'dies.js'), `console.error('cannot start: no ovsdb'); process.exit(1);`);
  await assert.rejects(startPlugin({ bin: path.join(tmp, 'dies.js'), pluginDir: tmp }), /cannot start: no ovsdb/);
});

test('recorded dockerd calls load (skipped without ../shared)', (t) => {
  if (!recordedAvailable()) return t.skip('no recordings next to the repo');
  assert.ok(listRecordedScenarios().includes('c_run_container'));
  const calls = loadRecorded('c_run_container');
  assert.ok(calls.length > 0 && calls.every((c) => c.path.startsWith('/')));
  const joins = loadRecorded('c_run_container', 'NetworkDriver.Join');
  assert.ok(joins.length >= 1 && joins.every((c) => c.path === '/NetworkDriver.Join' && typeof c.req.EndpointID === 'string'));
});

test('outside world leaves no interface behind after destroy', async () => {
  const w = await makeOutsideWorld({ name: 'hself2', hostIp: '198.51.101.1', outsideIp: '198.51.101.2', ipv6: false });
  assert.equal((await nsExec(w.ns, 'busybox', ['ping', '-c1', '-W3', w.hostIp])).code, 0);
  await w.destroy();
  assert.equal(fs.existsSync(`/sys/class/net/${w.hostIf}`), false);
  assert.equal((await run('ip', ['netns', 'exec', w.ns, 'true'])).code === 0, false);
});
