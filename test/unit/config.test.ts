import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDaemonConfig, daemonHelp, DAEMON_FLAGS } from '../../src/config';

test('defaults, flags, OCN_* environment twins (flags win)', () => {
  const c = parseDaemonConfig([], {});
  assert.equal(c.name, 'ovs-container-network');
  assert.equal(c.pluginDir, '/run/docker/plugins');
  assert.equal(c.ovsdb, 'unix:/var/run/openvswitch/db.sock');
  const e = parseDaemonConfig(['--log-level', 'debug', '--underlay-mtu=1600'], { OCN_NAME: 'n1', OCN_LOG_LEVEL: 'warn' });
  assert.equal(e.name, 'n1');
  assert.equal(e.logLevel, 'debug');
  assert.equal(e.underlayMtu, 1600);
  // Off until a quiet machine shows it helps (issue 12: no gain measured on a loaded one).
  assert.equal(c.groupCommit, false);
  assert.equal(parseDaemonConfig([], { OCN_GROUP_COMMIT: 'on' }).groupCommit, true);
  // The warm port pool is on by default; --pool-max 0 turns it off.
  assert.deepEqual([c.poolMin, c.poolMax], [2, 64]);
  assert.equal(parseDaemonConfig(['--pool-max', '0'], {}).poolMax, 0);
});

test('bad values name the flag and what it accepts', () => {
  assert.throws(() => parseDaemonConfig(['--log-level', 'loud'], {}), /--log-level: "loud" is not one of fatal, error/);
  assert.throws(() => parseDaemonConfig(['--scope', 'swarm'], {}), /--scope: "swarm" is not one of local, global/);
  assert.throws(() => parseDaemonConfig(['--group-commit', 'yes'], {}), /--group-commit: "yes" is not one of on, off/);
  assert.throws(() => parseDaemonConfig(['--underlay-mtu', '100'], {}), /--underlay-mtu: "100" must be an integer 1280-65535/);
  assert.throws(() => parseDaemonConfig(['--state-timeout-ms', '5'], {}), /must be an integer >= 100/);
  assert.throws(() => parseDaemonConfig(['--name', 'a b'], {}), /--name/);
  assert.throws(() => parseDaemonConfig(['--bogus', '1'], {}), /unknown flag --bogus; known flags: --name/);
  assert.throws(() => parseDaemonConfig(['--ovsdb'], {}), /--ovsdb needs a value/);
  assert.throws(() => parseDaemonConfig(['--pool-max', '-1'], {}), /--pool-max: "-1" must be an integer 0-4096/);
  assert.throws(() => parseDaemonConfig(['--pool-min', '9', '--pool-max', '4'], {}), /--pool-min 9 is above --pool-max 4/);
});

test('--help documents every flag and its environment variable', () => {
  const h = daemonHelp();
  for (const f of DAEMON_FLAGS) {
    assert.ok(h.includes(f.cli), f.cli);
    assert.ok(h.includes(f.env), f.env);
  }
});
