// Every way the daemon is started passes the same Node flags (src/node-flags.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { DAEMON_NODE_FLAGS } from '../../src/node-flags';

const root = path.resolve(__dirname, '..', '..', '..');
const read = (f: string): string => fs.readFileSync(path.join(root, f), 'utf8');
const flags = DAEMON_NODE_FLAGS.join(' ');

test('bin/ovs-container-network runs node with the daemon flags', () => {
  assert.equal(read('bin/ovs-container-network').split('\n')[0], `#!/usr/bin/env -S node ${flags}`);
});

test('the managed plugin (config.json Entrypoint, Dockerfile ENTRYPOINT) runs node with them', () => {
  const entry = ['/usr/local/bin/node', ...DAEMON_NODE_FLAGS, '/app/plugin-entrypoint.js'];
  assert.deepEqual((JSON.parse(read('config.json')) as { Entrypoint: string[] }).Entrypoint, entry);
  assert.ok(read('Dockerfile').includes(`ENTRYPOINT ${JSON.stringify(entry).replace(/","/g, '", "')}`), 'Dockerfile ENTRYPOINT');
});

test('the systemd unit runs node with them', () => {
  assert.match(read('packaging/ovs-container-network.service'), new RegExp(`^ExecStart=@NODE@ ${flags} @APPDIR@/bin/ovs-container-network daemon$`, 'm'));
});

test('the flags are accepted by this node', () => {
  const { status, stderr } = spawnSync(process.execPath, [...DAEMON_NODE_FLAGS, '-e', '0'], { encoding: 'utf8' });
  assert.equal(status, 0, stderr);
});
