// Runs the kernel-facing checks (helpers/integration-child.js) inside fresh network
// namespaces, so nothing in the root namespace is touched, and replays their results
// here as subtests. Needs root and iproute2; skipped otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseTap } from './helpers/tap';

const NS = `ocn-nltest-${process.pid}`;
const NS_PEER = `${NS}-b`; // where a veth end is moved to check IFLA_LINK_NETNSID
const CHILD = join(__dirname, 'helpers', 'integration-child.js');

function whyNot(): string | false {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'needs iproute2 (ip)';
  }
  return existsSync(CHILD) ? false : `${CHILD} not built`;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 180_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

test('netlink against the kernel, in a fresh netns', { skip: whyNot() }, async (t) => {
  const created: string[] = [];
  try {
    for (const ns of [NS, NS_PEER]) {
      execFileSync('ip', ['netns', 'add', ns]);
      created.push(ns);
    }
    const env: NodeJS.ProcessEnv = { ...process.env, OCN_NLTEST_NETNS: NS, OCN_NLTEST_PEER_NETNS: NS_PEER };
    // Under `node --test` this is set for us; inherited, it would make the child speak the
    // runner's binary protocol instead of TAP.
    delete env.NODE_TEST_CONTEXT;
    const res = await run('ip', ['netns', 'exec', NS, process.execPath, '--test-reporter=tap', CHILD], env);
    const results = parseTap(res.out);
    for (const r of results) {
      await t.test(r.name, { skip: r.skip }, (st) => {
        for (const d of r.diagnostics) st.diagnostic(d);
        if (!r.ok) assert.fail(`${r.name} failed in ${NS}:\n${r.detail}`);
      });
    }
    assert.ok(results.length > 0, `no results from the child:\n${res.err}\n${res.out}`);
    assert.equal(res.code, 0, `child exited with ${res.code}:\n${res.err.slice(-4000)}`);
  } finally {
    // Deleting the namespaces also deletes whatever links the child left in them.
    for (const ns of created) execFileSync('ip', ['netns', 'del', ns]);
  }
});
