// `make install` / `make uninstall` into a DESTDIR (no systemd runs on the test machines, so
// the systemctl half is not exercised): the installed tree runs the daemon with production
// dependencies only, the unit passes `systemd-analyze verify`, its socket wait works, an
// upgrade keeps edited settings, uninstall removes everything else.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run, runOk } from '../harness/exec';
import { ensureSystemOvs, vsctl } from '../harness/ovs';
import { purgeChains } from '../harness/iptables';
import { Plugin, startPlugin } from '../harness/plugin';
import { chainNames } from '../../src/net/firewall';
import { note, REPO, sec, timed } from './common';

const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'ocn-destdir-'));
const APP = path.join(dest, 'usr/local/lib/ovs-container-network');
const UNIT = path.join(dest, 'etc/systemd/system/ovs-container-network.service');
const DEFAULTS = path.join(dest, 'etc/default/ovs-container-network');
const LINK = path.join(dest, 'usr/local/bin/ovs-container-network');
let daemon: Plugin | undefined;

const installSh = (action: string) =>
  run(path.join(REPO(), 'packaging', 'install.sh'), [action], { env: { DESTDIR: dest }, timeoutMs: 300_000 });

after(async () => {
  if (daemon) {
    if (daemon.alive()) await daemon.kill9();
    await purgeChains(new RegExp(`^${chainNames(daemon.name).post.slice(0, 10)}-`));
    const out = await vsctl('--format=json', '--columns=external_ids', 'list', 'Open_vSwitch', '.');
    const keys = (JSON.parse(out) as { data: [[string, [string, string][]]][] }).data[0][0][1].map(([k]) => k).filter((k) => k.startsWith(`ocn.${daemon!.name}.`));
    for (const k of keys) await vsctl('remove', 'Open_vSwitch', '.', 'external_ids', JSON.stringify(k));
  }
  fs.rmSync(dest, { recursive: true, force: true });
});

test('make install / uninstall are wired to packaging/install.sh with DESTDIR and PREFIX', async () => {
  for (const target of ['install', 'uninstall']) {
    const r = await runOk('make', ['-n', '-C', REPO(), target, 'DESTDIR=/tmp/x', 'PREFIX=/opt/ocn']);
    const line = r.stdout.split('\n').find((l) => l.includes('packaging/install.sh'));
    assert.ok(line, `make -n ${target}:\n${r.stdout}`);
    assert.match(line, new RegExp(`DESTDIR='/tmp/x'.*PREFIX='/opt/ocn'.*install\\.sh ${target}$`));
  }
});

test('install into a DESTDIR: app, symlink, unit, settings; the installed daemon runs', async () => {
  const [r, ms] = await timed(() => installSh('install'));
  assert.equal(r.code, 0, `install.sh install failed:\n${r.stderr}`);
  note(`install into ${dest}: ${sec(ms)}`);
  for (const p of ['package.json', 'bin/ovs-container-network', 'dist/src/cli.js', 'node_modules/netlink/package.json', 'README.md']) {
    assert.ok(fs.existsSync(path.join(APP, p)), `installed ${p}`);
  }
  assert.ok(!fs.existsSync(path.join(APP, 'node_modules/typescript')), 'no devDependencies');
  assert.ok(!fs.existsSync(path.join(APP, 'dist/test')), 'no tests');
  assert.equal(fs.readlinkSync(LINK), '../lib/ovs-container-network/bin/ovs-container-network');
  const help = await runOk(LINK, ['daemon', '--help']);
  assert.match(help.stdout, /--plugin-dir/);
  assert.ok(fs.existsSync(DEFAULTS));
  const rotate = fs.readFileSync(path.join(dest, 'etc/logrotate.d/ovs-container-network'), 'utf8');
  assert.match(rotate, /^\/var\/log\/ovs-container-network\/\*\.log \{$/m, 'logrotate covers the service log');
  assert.match(rotate, /copytruncate/);

  const unit = fs.readFileSync(UNIT, 'utf8');
  assert.match(unit, /^Before=docker\.service$/m);
  assert.match(unit, /^Restart=on-failure$/m);
  assert.match(unit, /^StandardError=append:\/var\/log\/ovs-container-network\/daemon\.log$/m, 'file logs, rotated by logrotate');
  assert.match(unit, /^WantedBy=multi-user\.target docker\.service$/m);
  const exec = /^ExecStart=(\S+) --max-semi-space-size=1 (\S+) daemon$/m.exec(unit);
  assert.ok(exec, 'ExecStart runs node on the installed app');
  assert.equal(exec[1], (await runOk('sh', ['-c', 'command -v node'])).stdout.trim(), 'node as found on PATH at install time');
  assert.equal(exec[2], '/usr/local/lib/ovs-container-network/bin/ovs-container-network');
  assert.ok(fs.existsSync(path.join(dest, exec[2])), 'ExecStart target exists (below DESTDIR)');
  assert.doesNotMatch(unit, /@[A-Z]+@/, 'every placeholder filled');

  // the installed tree (production node_modules only) serves the plugin protocol
  await ensureSystemOvs();
  const sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocn-inst-sock-'));
  daemon = await startPlugin({ bin: path.join(APP, 'bin/ovs-container-network'), pluginDir: sockDir, logLevel: 'info' });
  note(`installed daemon answered Plugin.Activate ${Math.round(daemon.startupMs)} ms after spawn`);
  const caps = await daemon.call<{ Scope: string }>('NetworkDriver.GetCapabilities');
  assert.equal(caps.status, 200);
  assert.equal((await daemon.call('IpamDriver.GetDefaultAddressSpaces')).status, 200);

  // ExecStartPost, as systemd would run it ($$ is a literal $): returns once the socket exists
  const post = /^ExecStartPost=\/bin\/sh -c '(.*)'$/m.exec(unit);
  assert.ok(post, 'ExecStartPost waits for the socket');
  const script = post[1].replace(/\$\$/g, '$');
  const ok = await run('/bin/sh', ['-c', script], { env: { OCN_PLUGIN_DIR: sockDir, OCN_NAME: daemon.name }, timeoutMs: 20_000 });
  assert.equal(ok.code, 0, `socket wait: ${ok.stderr}`);
  const stop = await daemon.stop();
  assert.equal(stop.code, 0, 'SIGTERM: exit 0');
  const t0 = Date.now();
  const missing = await run('/bin/sh', ['-c', script.replace('seq 100', 'seq 3')], { env: { OCN_PLUGIN_DIR: sockDir, OCN_NAME: daemon.name }, timeoutMs: 20_000 });
  assert.notEqual(missing.code, 0, 'no socket: the start fails');
  assert.ok(Date.now() - t0 < 5000);
  fs.rmSync(sockDir, { recursive: true, force: true });
});

test('the unit passes systemd-analyze verify (which does flag a broken unit)', async (t) => {
  if ((await run('systemd-analyze', ['--version'])).code !== 0) {
    t.skip('systemd-analyze not installed');
    return;
  }
  const r = await run('systemd-analyze', ['verify', UNIT]);
  assert.equal(r.code, 0, `systemd-analyze verify:\n${r.stderr}${r.stdout}`);
  assert.equal(r.stderr.trim(), '', `no warnings: ${r.stderr}`);
  const bad = path.join(dest, 'ocn-broken.service');
  fs.writeFileSync(bad, '[Service]\nExecStart=relative/path\nRestart=sometimes\n');
  const b = await run('systemd-analyze', ['verify', bad]);
  assert.ok(b.code !== 0 || b.stderr.trim() !== '', 'sanity: a broken unit is reported');
  fs.rmSync(bad);
});

test('upgrade keeps edited settings; uninstall removes everything but them', async () => {
  fs.appendFileSync(DEFAULTS, 'OCN_LOG_LEVEL=debug\n');
  const up = await installSh('install');
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stderr, /keeping .*ovs-container-network/);
  assert.match(fs.readFileSync(DEFAULTS, 'utf8'), /^OCN_LOG_LEVEL=debug$/m, 'edited settings survive the upgrade');
  assert.ok(!fs.existsSync(`${APP}.new`) && !fs.existsSync(`${APP}.old`), 'no half-swapped trees');

  const un = await installSh('uninstall');
  assert.equal(un.code, 0, un.stderr);
  assert.ok(!fs.existsSync(APP) && !fs.existsSync(UNIT), 'app and unit removed');
  assert.ok(!fs.existsSync(LINK) && !fs.lstatSync(path.dirname(LINK)).isSymbolicLink(), 'symlink removed');
  assert.ok(fs.existsSync(DEFAULTS), 'edited settings kept');
  // an untouched settings file goes with the rest
  fs.copyFileSync(path.join(REPO(), 'packaging', 'ovs-container-network.default'), DEFAULTS);
  assert.equal((await installSh('uninstall')).code, 0);
  const left = (await runOk('find', [dest, '-type', 'f', '-o', '-type', 'l'])).stdout.trim();
  assert.equal(left, '', 'nothing but empty directories left');
});
