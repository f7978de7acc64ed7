// The managed (v2) plugin end to end, under a private dockerd and without any registry: the
// rootfs from this host's Node runtime (plugin/build.sh, what `make plugin` runs), `docker plugin
// create/enable/set/disable/rm`, networks and containers on it, then the two restarts it must
// survive: its own process killed (dockerd restarts it) and dockerd restarted with containers
// that have `--restart always`.
//
// Isolation on a shared machine: the plugin is created under a random name and its daemon gets
// a random OCN_NAME (settable: the owner of its OVS rows, OVSDB records and iptables chains),
// its networks a bridge of their own and subnets no host route covers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Dockerd, startDockerd } from '../harness/dockerd';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from '../harness/image';
import { ensureSystemOvs, vsctl, vsctlRun } from '../harness/ovs';
import { forcedSteps, run, runOk, signal, sleep, waitDead, waitFor } from '../harness/exec';
import { purgeChains } from '../harness/iptables';
import { pluginCall } from '../harness/plugin';
import { chainNames } from '../../src/net/firewall';
import { DAEMON_FLAGS } from '../../src/config';
import {
  addr, freeSubnets, hostAddress, hostSocket, logSize, note, pluginLogRecords, pluginPid, procStartEpochMs, rand, readConfigJson, REPO, sec, timed,
} from './common';

const IMAGE = BUSYBOX_IMAGE;

test('make plugin: the Makefile target passes PLUGIN_NAME, DOCKER_HOST and ROOTFS_FROM to plugin/build.sh', async () => {
  const r = await runOk('make', ['-n', '-C', REPO(), 'plugin', 'PLUGIN_NAME=x/y:1', 'DOCKER_HOST=unix:///tmp/d.sock', 'ROOTFS_FROM=dockerfile']);
  const line = r.stdout.split('\n').find((l) => l.includes('plugin/build.sh'));
  assert.ok(line, `make -n plugin runs plugin/build.sh:\n${r.stdout}`);
  assert.match(line, /PLUGIN_NAME='x\/y:1'/);
  assert.match(line, /DOCKER_HOST='unix:\/\/\/tmp\/d.sock'/);
  assert.match(line, /ROOTFS_FROM='dockerfile'/);
  assert.match(r.stdout, /tsc -p tsconfig.json/, 'it compiles first');
  assert.ok(fs.readFileSync(path.join(REPO(), '.gitignore'), 'utf8').split('\n').includes('plugin/build/'), 'plugin/build/ is ignored by git');
});

test('config.json: interfaces, short socket, host network, capabilities, OVS mount, every daemon flag settable', () => {
  const c = readConfigJson();
  assert.deepEqual(c.Interface.Types, ['docker.networkdriver/1.0', 'docker.ipamdriver/1.0']);
  // dockerd dials /run/docker/plugins/<64 hex>/<socket>: 85 bytes before the name, 108 at most
  assert.ok(`/run/docker/plugins/${'0'.repeat(64)}/${c.Interface.Socket}`.length <= 108, `socket name ${c.Interface.Socket} fits the 108-byte sun_path`);
  assert.equal(c.Network.Type, 'host');
  assert.deepEqual(c.Linux.Capabilities, ['CAP_NET_ADMIN']);
  const ovs = c.Mounts.find((m) => m.Destination === '/var/run/openvswitch');
  assert.ok(ovs && ovs.Type === 'bind' && ovs.Settable.includes('source'), 'the OVS run dir is bind-mounted, source settable');
  const env = new Map(c.Env.map((e) => [e.Name, e]));
  assert.equal(env.get('OCN_PLUGIN_SOCKET')?.Value, c.Interface.Socket, 'the entry point links the socket config.json names');
  for (const f of DAEMON_FLAGS) {
    const e = env.get(f.env);
    assert.ok(e, `config.json Env has ${f.env} (daemon flag ${f.cli})`);
    assert.equal(e.Value, f.def, `${f.env} defaults to the daemon's default`);
    if (f.env !== 'OCN_PLUGIN_DIR') assert.deepEqual(e.Settable, ['value'], `${f.env} is settable`);
  }
  for (const n of ['OCN_LOG_LEVEL', 'OCN_OVSDB', 'OCN_OVN_NB', 'OCN_OVN_SB', 'OCN_ENCAP_IP', 'OCN_SCOPE', 'OCN_IPTABLES']) assert.ok(env.get(n)?.Settable.includes('value'), `${n} settable`);
  assert.deepEqual(c.Args.Settable, ['value']);
});

test('managed plugin: create, enable, networks, containers, disable refused, plugin killed, dockerd restarted, set while disabled', async (t) => {
  await ensureSystemOvs();
  const tag = rand();
  const pname = `ocn-v2-${tag}`;
  const P = `${pname}:latest`;
  const ocnName = `ocnpk-${tag}`;
  const bridge = `brpk${tag.slice(0, 4)}`;
  const buildDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocn-plugin-build-'));
  const [sA, sB] = await freeSubnets(2);
  let d: Dockerd | undefined;
  let id = '';

  t.after(async () => {
    const { forced, step } = forcedSteps();
    if (d?.alive()) {
      const dd = d;
      await step('containers', async () => {
        const ids = (await dd.docker(['ps', '-aq'])).stdout.split(/\s+/).filter(Boolean);
        if (ids.length) await dd.docker(['rm', '-f', ...ids]);
      });
      await step('networks', async () => {
        for (const n of ['pka', 'pkb']) await dd.docker(['network', 'rm', n], { timeoutMs: 60_000 });
      });
      await step('plugin', async () => {
        await dd.docker(['plugin', 'disable', '-f', P]);
        await dd.docker(['plugin', 'rm', '-f', P]);
      });
    }
    await step('dockerd', async () => d?.cleanup());
    await step('ovs ports', async () => {
      const names = (await vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-owner=${ocnName}`)).split(/\s+/).filter(Boolean);
      for (const n of names) await vsctlRun('--if-exists', 'del-port', n);
      if (names.length) forced.push(`ports ${names.join(',')}`);
    });
    await step('bridge', async () => {
      if ((await vsctlRun('br-exists', bridge)).code === 0) {
        forced.push(`bridge ${bridge}`);
        await vsctl('--if-exists', 'del-br', bridge);
      }
    });
    await step('ovs records', async () => {
      const out = await vsctl('--format=json', '--columns=external_ids', 'list', 'Open_vSwitch', '.');
      const keys = (JSON.parse(out) as { data: [[string, [string, string][]]][] }).data[0][0][1].map(([k]) => k).filter((k) => k.startsWith(`ocn.${ocnName}.`));
      for (const k of keys) await vsctl('remove', 'Open_vSwitch', '.', 'external_ids', JSON.stringify(k));
      if (keys.length) forced.push(`${keys.length} records`);
    });
    // the daemon leaves its (empty) chains and their jumps on purpose; the test removes them
    await step('chains', () => purgeChains(new RegExp(`^${chainNames(ocnName).post.slice(0, 10)}-`)));
    if (id) fs.rmSync(path.join('/run/docker/plugins', id), { recursive: true, force: true });
    fs.rmSync(buildDir, { recursive: true, force: true });
    if (forced.length) note(`cleanup had to remove: ${forced.join('; ')}`);
  });

  // ------------------------------------------------------------ build and create
  const [dd, startMs] = await timed(async () => {
    const x = await startDockerd({ name: `pkg-v2-${process.pid}` });
    d = x;
    await ensureBusyboxImage(x);
    return x;
  });
  note(`dockerd ${dd.name} with image up in ${sec(startMs)}`);
  const docker = (args: string[], timeoutMs = 120_000) => dd.docker(args, { timeoutMs });
  const dockerOk = async (args: string[], timeoutMs = 120_000) => (await dd.dockerOk(args, { timeoutMs })).stdout.trim();

  await t.test('plugin/build.sh builds the rootfs from the host runtime and `docker plugin create`s it', async () => {
    const [r, ms] = await timed(() =>
      runOk(path.join(REPO(), 'plugin', 'build.sh'), [], {
        env: { PLUGIN_NAME: pname, PLUGIN_BUILD_DIR: buildDir, DOCKER_HOST: dd.host },
        timeoutMs: 600_000,
      }),
    );
    const rootfs = path.join(buildDir, 'rootfs');
    const du = await runOk('du', ['-sm', rootfs]);
    note(`build + create: ${sec(ms)}; rootfs ${du.stdout.split('\t')[0]} MB; ${r.stderr.trim().split('\n').join(' | ')}`);
    for (const p of ['usr/local/bin/node', 'app/plugin-entrypoint.js', 'app/dist/src/cli.js', 'app/package.json', 'usr/sbin/xtables-nft-multi', 'run/docker/plugins', 'var/run/openvswitch']) {
      assert.ok(fs.existsSync(path.join(rootfs, p)), `rootfs has /${p}`);
    }
    const prebuilds = fs.readdirSync(path.join(rootfs, 'app/node_modules/netlink/prebuilds'));
    assert.deepEqual(prebuilds, [`linux-${process.arch}`], 'only this platform\'s netlink prebuild');
    assert.ok(!fs.existsSync(path.join(rootfs, 'app/node_modules/typescript')), 'no devDependencies');
    for (const t of ['iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore']) {
      assert.ok(fs.existsSync(path.join(rootfs, 'usr/lib/ocn/xtables-nft', t)), `${t} (nft) is there`);
    }
    id = await dockerOk(['plugin', 'inspect', '-f', '{{.Id}}', P]);
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(await dockerOk(['plugin', 'inspect', '-f', '{{.Enabled}}', P]), 'false', 'created disabled');
    const cfg = JSON.parse(await dockerOk(['plugin', 'inspect', '-f', '{{json .Config}}', P])) as { Interface: { Socket: string; Types: string[] } };
    assert.equal(cfg.Interface.Socket, 'ocn.sock');
    assert.deepEqual([...cfg.Interface.Types].sort(), ['docker.ipamdriver/1.0', 'docker.networkdriver/1.0']);
  });

  await t.test('the rootfs stands alone (chroot): the daemon starts, both iptables backends run, a bad OCN_IPTABLES is refused', async () => {
    const rootfs = path.join(buildDir, 'rootfs');
    const clean = ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS'];
    const help = await run('chroot', [rootfs, '/usr/local/bin/node', '/app/plugin-entrypoint.js', '--help'], { unsetEnv: clean });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--plugin-dir/);
    for (const mode of ['nft', 'legacy']) {
      const v = await run('chroot', [rootfs, `/usr/lib/ocn/xtables-${mode}/iptables-restore`, '--version'], { unsetEnv: clean });
      assert.equal(v.code, 0, `${mode}: ${v.stderr}`);
      assert.match(v.stdout, new RegExp(`\\(${mode === 'nft' ? 'nf_tables' : 'legacy'}\\)`));
    }
    const bad = await run('chroot', [rootfs, '/usr/local/bin/node', '/app/plugin-entrypoint.js'], { env: { OCN_IPTABLES: 'iptables' }, unsetEnv: clean });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /OCN_IPTABLES="iptables" is not one of nft, legacy/);
  });

  await t.test('docker plugin set works while disabled; enable starts the daemon, which listens at once', async () => {
    await dockerOk(['plugin', 'set', P, `OCN_NAME=${ocnName}`, 'OCN_LOG_LEVEL=debug']);
    const from = logSize(dd);
    const [, ms] = await timed(() => dockerOk(['plugin', 'enable', P]));
    note(`docker plugin enable: ${sec(ms)}`);
    assert.equal(await dockerOk(['plugin', 'inspect', '-f', '{{.Enabled}}', P]), 'true');
    const recs = pluginLogRecords(dd, id, from);
    const listening = recs.find((r) => r.msg === 'listening');
    assert.ok(listening, `the daemon logged "listening" (records: ${JSON.stringify(recs.slice(0, 5))})`);
    assert.equal(listening.socket, `/run/docker/plugins/${ocnName}.sock`, 'inside the plugin it listens on <plugin-dir>/<OCN_NAME>.sock');
    assert.equal(listening.driver, ocnName);
    const pid0 = pluginPid(dd, id);
    assert.ok(pid0, 'the plugin process is found through containerd\'s task state');
    const fromExec = (listening.time as number) - procStartEpochMs(pid0);
    note(`daemon listening ${listening.ms} ms after startDaemon, ${fromExec} ms after the process started (node boot + module loading)`);
    assert.ok(fromExec < 9000, `listening ${fromExec} ms after exec: dockerd gives up after about 9.5 s`);
    // dockerd queried the capabilities right at enable (no Plugin.Activate for v2)
    assert.ok(recs.some((r) => r.method === 'NetworkDriver.GetCapabilities'), 'GetCapabilities answered');
    const caps = await pluginCall<{ Scope: string }>(hostSocket(id, 'ocn.sock'), 'NetworkDriver.GetCapabilities');
    assert.equal(caps.status, 200);
    assert.equal(caps.body.Scope, 'local');
    const set = await docker(['plugin', 'set', P, 'OCN_LOG_LEVEL=info']);
    assert.notEqual(set.code, 0);
    assert.match(set.stderr, /cannot set on an active plugin/);
    const status = fs.readFileSync(`/proc/${pid0}/status`, 'utf8');
    const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)/m.exec(status)![1]}`);
    assert.ok(capEff & (1n << 12n), 'CAP_NET_ADMIN');
  });

  await t.test('networks on the plugin (docker IPAM and its own), containers attach and ping, ports are published', async () => {
    const short = await docker(['network', 'create', '-d', pname, 'pkshort']);
    assert.notEqual(short.code, 0, 'v2 plugin names need the tag');
    assert.match(short.stderr, /could not resolve driver/);
    await dockerOk(['network', 'create', '-d', P, '--subnet', sA, '-o', `bridge=${bridge}`, '-o', 'vlan=311', 'pka']);
    await dockerOk(['network', 'create', '-d', P, '--ipam-driver', P, '--subnet', sB, '-o', `bridge=${bridge}`, '-o', 'vlan=312', 'pkb']);
    const [, ms] = await timed(() =>
      Promise.all([
        dockerOk(['run', '-d', '--init', '--restart', 'always', '--name', 'pk1', '--network', 'pka', '--ip', addr(sA, 11), IMAGE, 'sleep', '1d']),
        dockerOk(['run', '-d', '--init', '--restart', 'always', '--name', 'pk2', '--network', 'pka', IMAGE, 'sleep', '1d']),
        dockerOk(['run', '-d', '--init', '--restart', 'always', '--name', 'pk3', '--network', 'pkb', IMAGE, 'sleep', '1d']),
      ]),
    );
    note(`3 containers started in ${sec(ms)}`);
    await dockerOk(['network', 'connect', 'pkb', 'pk1']);
    assert.ok(await pings(dd, 'pk2', 'pk1'), 'pk2 -> pk1 by name');
    assert.ok(await pings(dd, 'pk1', 'pk3'), 'pk1 -> pk3 on the plugin-IPAM network');
    const ports = (await vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-owner=${ocnName}`)).split(/\s+/).filter(Boolean);
    assert.ok(ports.filter((n) => n.startsWith('ocnh')).length >= 4, `4 endpoint ports in OVS owned by ${ocnName}: ${ports}`);
    assert.equal((await vsctlRun('br-exists', bridge)).code, 0, `bridge ${bridge} created`);

    // iptables inside the plugin (nft backend): a published port answers from the host
    const host = await hostAddress();
    if (!host) {
      note('no default route: published-port check skipped');
      return;
    }
    const hp = 20000 + Math.floor(Math.random() * 20000);
    await dockerOk(['run', '-d', '--init', '--name', 'pkweb', '--network', 'pka', '-p', `${hp}:8080`, IMAGE, 'sh', '-c',
      'mkdir -p /www && echo hello-from-plugin > /www/index.html && exec httpd -f -p 8080 -h /www']);
    const body = await waitFor(async () => {
      const r = await run('curl', ['-s', '--max-time', '2', `http://${host}:${hp}/`]);
      return r.code === 0 && r.stdout.includes('hello-from-plugin') ? r.stdout : undefined;
    }, { timeoutMs: 20_000, what: `http://${host}:${hp}/ through the plugin's DNAT` });
    assert.match(body, /hello-from-plugin/);
    await dockerOk(['rm', '-f', 'pkweb']);
  });

  await t.test('docker plugin disable is refused while networks use it', async () => {
    const r = await docker(['plugin', 'disable', P]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is in use/);
    assert.equal(await dockerOk(['plugin', 'inspect', '-f', '{{.Enabled}}', P]), 'true');
  });

  await t.test('plugin process killed: dockerd restarts it, attachments keep working, new ones too', async () => {
    const pid = pluginPid(dd, id);
    assert.ok(pid);
    const t0 = Date.now();
    signal(pid, 'SIGKILL');
    assert.ok(await waitDead(pid, 10_000), 'the plugin died');
    const npid = await waitFor(() => {
      const p = pluginPid(dd, id);
      return p && p !== pid ? p : undefined;
    }, { timeoutMs: 30_000, what: 'dockerd to restart the plugin' });
    await waitFor(async () => (await pluginCall(hostSocket(id, 'ocn.sock'), 'NetworkDriver.GetCapabilities', undefined, { timeoutMs: 2000 }).catch(() => ({ status: 0 }))).status === 200,
      { timeoutMs: 20_000, what: 'the restarted plugin to answer' });
    const listening = pluginLogRecords(dd, id).filter((r) => r.msg === 'listening').pop();
    note(`plugin pid ${pid} killed; pid ${npid} answering ${sec(Date.now() - t0)} later (listening ${(listening?.time as number) - procStartEpochMs(npid)} ms after its exec)`);
    assert.ok(await pings(dd, 'pk2', 'pk1'), 'existing attachment still works');
    assert.ok(await pings(dd, 'pk1', 'pk3'), 'existing attachment (plugin IPAM) still works');
    const r = await docker(['run', '--rm', '--network', 'pka', IMAGE, 'ping', '-c', '1', '-W', '2', 'pk1']);
    assert.equal(r.code, 0, `a new container attaches after the restart: ${r.stderr}${r.stdout}`);
  });

  await t.test('dockerd restarted with the plugin enabled: --restart always containers come back connected', async () => {
    const [, ms] = await timed(() => dd.restart());
    note(`dockerd restart: ${sec(ms)}`);
    assert.equal(await dockerOk(['plugin', 'inspect', '-f', '{{.Enabled}}', P]), 'true');
    const t0 = Date.now();
    await waitFor(async () => {
      const out = await dockerOk(['inspect', '-f', '{{.State.Running}}', 'pk1', 'pk2', 'pk3']);
      return out.split('\n').every((l) => l.trim() === 'true');
    }, { timeoutMs: 90_000, what: 'pk1..pk3 running again' });
    note(`containers running ${sec(Date.now() - t0)} after the API came back`);
    assert.ok(await pings(dd, 'pk2', 'pk1'), 'pk2 -> pk1 after the dockerd restart');
    assert.ok(await pings(dd, 'pk1', 'pk3'), 'pk1 -> pk3 after the dockerd restart');
    const r = await docker(['run', '--rm', '--network', 'pkb', IMAGE, 'ping', '-c', '1', '-W', '2', 'pk3']);
    assert.equal(r.code, 0, `a new container attaches after the dockerd restart: ${r.stderr}${r.stdout}`);
  });

  await t.test('teardown leaves nothing; set the log level while disabled, it applies at the next enable', async () => {
    await dockerOk(['rm', '-f', 'pk1', 'pk2', 'pk3']);
    await dockerOk(['network', 'rm', 'pka', 'pkb']);
    await waitFor(async () => (await vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-owner=${ocnName}`)) === '', { timeoutMs: 15_000, what: 'our OVS ports to go' });
    assert.equal((await vsctlRun('br-exists', bridge)).code, 2, `bridge ${bridge} removed with its last network`);
    const [, ms] = await timed(() => dockerOk(['plugin', 'disable', P]));
    note(`docker plugin disable: ${sec(ms)}`);
    assert.equal(pluginPid(dd, id), undefined, 'the plugin process is gone');
    assert.ok(!fs.existsSync(hostSocket(id, `${ocnName}.sock`)), 'the daemon removed its socket on SIGTERM');
    await dockerOk(['plugin', 'set', P, 'OCN_LOG_LEVEL=warn']);
    const env = JSON.parse(await dockerOk(['plugin', 'inspect', '-f', '{{json .Settings.Env}}', P])) as string[];
    assert.ok(env.includes('OCN_LOG_LEVEL=warn'), `settings: ${env}`);
    const from = logSize(dd);
    await dockerOk(['plugin', 'enable', P]);
    // GetCapabilities came in at enable; at warn level not one info/debug line may appear
    const caps = await pluginCall(hostSocket(id, 'ocn.sock'), 'NetworkDriver.GetCapabilities');
    assert.equal(caps.status, 200);
    await sleep(300);
    const recs = pluginLogRecords(dd, id, from);
    assert.deepEqual(recs.filter((r) => (r.level as number) < 40), [], 'no record below warn after OCN_LOG_LEVEL=warn');
    await dockerOk(['plugin', 'disable', P]);
    await dockerOk(['plugin', 'rm', P]);
    assert.equal((await docker(['plugin', 'inspect', P])).code, 1, 'plugin removed');
  });
});

/** Inside a container: up to 3 single pings (a lone echo can be lost on a loaded netdev datapath). */
async function pings(d: Dockerd, container: string, target: string): Promise<boolean> {
  for (let i = 0; i < 3; i++) {
    const r = await d.docker(['exec', container, 'ping', '-c', '1', '-W', '2', target], { timeoutMs: 20_000 });
    if (r.code === 0) return true;
  }
  return false;
}
