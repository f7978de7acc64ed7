// Test helper: a Raft-clustered database of N ovsdb-server processes on loopback, built the way
// OVN's sandbox does it (ovsdb-tool create-cluster on the first member, join-cluster on the
// others), each started in the foreground so the test owns its PID and can SIGKILL it.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { OVN_NB_SCHEMA, freePort } from './server';

export interface ClusterMember {
  /** unix:<dir>/db.sock */
  unixRemote: string;
  /** tcp:127.0.0.1:<port> for clients. */
  tcpRemote: string;
  readonly pid: number;
  alive(): boolean;
  /** SIGKILL (a crash) and wait for the exit. */
  kill9(): Promise<void>;
  /** Starts it again on the same database file. */
  start(): Promise<void>;
  /** This member's view from `cluster/status` (role "leader", "follower" or "candidate"). */
  role(): string;
}

export interface DbCluster {
  members: ClusterMember[];
  /** The comma-separated client remotes of every member (tcp or unix). */
  remote(kind?: 'tcp' | 'unix'): string;
  /** Waits until one live member says it is the leader and returns its index. */
  waitLeader(timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export async function startDbCluster(size = 3, schema = OVN_NB_SCHEMA, dbName = 'OVN_Northbound'): Promise<DbCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ovsdb-cluster-'));
  const raftPorts: number[] = [];
  const clientPorts: number[] = [];
  for (let i = 0; i < size; i++) {
    raftPorts.push(await freePort());
    clientPorts.push(await freePort());
  }
  const raft = (i: number): string => `tcp:127.0.0.1:${raftPorts[i]}`;
  const f = (i: number, name: string): string => path.join(dir, `m${i}-${name}`);
  execFileSync('ovsdb-tool', ['create-cluster', f(0, 'db'), schema, raft(0)], { stdio: 'ignore' });
  for (let i = 1; i < size; i++) execFileSync('ovsdb-tool', ['join-cluster', f(i, 'db'), dbName, raft(i), raft(0)]);

  const members: ClusterMember[] = [];
  for (let i = 0; i < size; i++) {
    let child: ChildProcess | undefined;
    let exited: Promise<void> = Promise.resolve();
    const args = [
      f(i, 'db'), `--remote=punix:${f(i, 'sock')}`, `--remote=ptcp:${clientPorts[i]}:127.0.0.1`,
      `--unixctl=${f(i, 'ctl')}`, `--log-file=${f(i, 'log')}`, `--pidfile=${f(i, 'pid')}`, '--no-chdir',
    ];
    const member: ClusterMember = {
      unixRemote: `unix:${f(i, 'sock')}`,
      tcpRemote: `tcp:127.0.0.1:${clientPorts[i]}`,
      get pid() { return child?.pid ?? -1; },
      alive: () => !!child && child.exitCode === null && child.signalCode === null,
      async kill9() {
        if (member.alive()) child!.kill('SIGKILL');
        await exited;
      },
      async start() {
        const c = spawn('ovsdb-server', args, { stdio: 'ignore' });
        child = c;
        live.add(c);
        exited = new Promise((resolve) => c.once('exit', () => { live.delete(c); resolve(); }));
        const deadline = Date.now() + 10_000;
        while (!statusOf(f(i, 'ctl'), dbName)) {
          if (!member.alive()) throw new Error(`cluster member ${i} exited at start (see ${f(i, 'log')})`);
          if (Date.now() > deadline) throw new Error(`cluster member ${i} did not come up (see ${f(i, 'log')})`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      role: () => /Role: (\w+)/.exec(statusOf(f(i, 'ctl'), dbName) ?? '')?.[1] ?? 'down',
    };
    members.push(member);
  }
  const cluster: DbCluster = {
    members,
    remote: (kind = 'tcp') => members.map((m) => (kind === 'tcp' ? m.tcpRemote : m.unixRemote)).join(','),
    async waitLeader(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = members.findIndex((m) => m.alive() && m.role() === 'leader');
        if (i >= 0) return i;
        if (Date.now() > deadline) throw new Error(`no cluster leader within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      await Promise.all(members.map((m) => m.kill9()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(members.map((m) => m.start()));
    await cluster.waitLeader();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** `cluster/status` text, or undefined while the control socket does not answer. */
function statusOf(ctl: string, dbName: string): string | undefined {
  try {
    return execFileSync('ovs-appctl', ['-t', ctl, '--timeout=2', 'cluster/status', dbName], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}
