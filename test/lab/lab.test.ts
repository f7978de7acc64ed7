// Self-test of the multi-host lab: 3 hosts + OVN (chassis 'lab' mode), two plain namespaces on
// different hosts on one logical switch made with ovn-nbctl, ping and TCP across hosts, the real
// daemon started inside a host, and a teardown that leaves nothing behind.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import { runOk, sleep } from '../harness/exec';
import { Lab, labFootprint, labLeftovers, LabNs, startLab } from './lab';

async function netnsList(): Promise<string[]> {
  return (await runOk('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(/\s+/)[0]).filter(Boolean);
}

describe('multi-host lab (3 hosts, OVN, chassis mode lab)', () => {
  let lab: Lab;
  let a: LabNs;
  let b: LabNs;

  before(async () => {
    lab = await startLab({ hosts: 3, ovn: true });
  });
  after(async () => {
    await lab?.destroy(); // no-op when the last test already tore it down
  });

  it('brings up 3 hosts with OVS, the underlay and registered chassis', async () => {
    assert.equal(lab.hosts.length, 3);
    assert.equal(lab.nbRemote, 'tcp:192.168.100.254:6641');
    assert.equal(lab.sbRemote, 'tcp:192.168.100.254:6642');
    const nsl = await netnsList();
    for (const h of lab.hosts) {
      assert.ok(nsl.includes(h.ns), `${h.ns} exists`);
      assert.equal(await h.vsctl('get', 'Bridge', 'br-int', 'datapath_type'), 'netdev');
      assert.match(await h.vsctl('get', 'Open_vSwitch', '.', 'external_ids:ovn-encap-ip'), new RegExp(`"?${h.ip.replace(/\./g, '\\.')}"?`));
      const addr = (await h.execOk('ip', ['-4', '-o', 'addr', 'show', 'dev', 'br-phy'])).stdout;
      assert.match(addr, new RegExp(`inet ${h.ip.replace(/\./g, '\\.')}/24`));
      assert.equal(await h.systemId(), h.name);
    }
    const chassis = (await lab.sbctl('--bare', '--columns=name', 'list', 'Chassis')).split(/\s+/).filter(Boolean).sort();
    assert.deepEqual(chassis, ['h1', 'h2', 'h3']);
    // the underlay: h1 reaches h3 and central
    assert.equal((await lab.hosts[0].exec('busybox', ['ping', '-c1', '-W2', lab.hosts[2].ip])).code, 0);
    assert.equal((await lab.hosts[0].exec('busybox', ['ping', '-c1', '-W2', '192.168.100.254'])).code, 0);
    // full Geneve mesh, neighbours pre-seeded
    for (const h of lab.hosts) {
      const tunnels = (await h.vsctl('--bare', '--columns=name', 'find', 'Interface', 'type=geneve')).split(/\s+/).filter(Boolean);
      assert.equal(tunnels.length, 2, `${h.name} tunnels: ${tunnels.join(' ')}`);
      const neigh = await h.appctl('tnl/neigh/show');
      for (const o of lab.hosts.filter((x) => x !== h)) assert.match(neigh, new RegExp(o.ip.replace(/\./g, '\\.')));
    }
    console.log(`# lab ${lab.id}: up ${lab.timings.upMs} ms, OVN up ${lab.timings.ovnMs} ms`);
  });

  it('two namespaces on h1 and h3 on one logical switch ping each other (and talk TCP)', async () => {
    await lab.nbctl('ls-add', 'sw0');
    await lab.nbctl('lsp-add', 'sw0', 'lsp-a', '--', 'lsp-set-addresses', 'lsp-a', '02:00:0a:00:00:01 10.0.0.1');
    await lab.nbctl('lsp-add', 'sw0', 'lsp-b', '--', 'lsp-set-addresses', 'lsp-b', '02:00:0a:00:00:02 10.0.0.2');
    a = await lab.addNs('a', lab.hosts[0], { cidr: '10.0.0.1/24', mac: '02:00:0a:00:00:01', ifaceId: 'lsp-a' });
    b = await lab.addNs('b', 'h3', { cidr: '10.0.0.2/24', mac: '02:00:0a:00:00:02', ifaceId: 'lsp-b' });
    await lab.nbctl('--wait=hv', '--timeout=30', 'sync');
    const bound = await lab.sbctl('--bare', '--columns=logical_port,chassis', 'find', 'Port_Binding', 'logical_port=lsp-a');
    assert.ok(bound.includes('lsp-a') && bound.split(/\s+/).filter(Boolean).length === 2, `lsp-a bound to a chassis: ${bound}`);
    assert.ok(await a.ping('10.0.0.2', 3), 'a pings b across hosts');
    assert.ok(await b.ping('10.0.0.1', 1), 'b pings a');

    // TCP through the userspace datapath + Geneve (tx checksum offload is off on the veths)
    const server = b.exec('busybox', ['nc', '-l', '-p', '5000'], { timeoutMs: 10_000 });
    let sent = false;
    for (let i = 0; i < 40 && !sent; i++) {
      await sleep(100);
      sent = (await a.exec('busybox', ['nc', '-w', '2', '10.0.0.2', '5000'], { input: 'hello over geneve\n', timeoutMs: 5000 })).code === 0;
    }
    const got = await server;
    assert.ok(sent, 'TCP connect across hosts');
    assert.equal(got.stdout.trim(), 'hello over geneve');
  });

  it('runs the real daemon inside a host namespace', async () => {
    const h = lab.hosts[1];
    const p = await h.startPlugin();
    assert.equal(p.name, `ocn-${lab.id}-h2`);
    assert.equal(p.socket, `${h.pluginDir}/ocn-${lab.id}-h2.sock`);
    // it runs in h2's netns: its /proc/<pid>/ns/net is the namespace's
    const nsIno = fs.statSync(`/run/netns/${h.ns}`).ino;
    assert.equal(fs.statSync(`/proc/${p.pid}/ns/net`).ino, nsIno);
    const act = await p.call<{ Implements: string[] }>('Plugin.Activate');
    assert.equal(act.status, 200);
    assert.ok(act.body.Implements.includes('NetworkDriver'));
    await p.stop();
  });

  it('tears down everything: namespaces, processes, state, nothing in the root namespace', async () => {
    const fp = await labFootprint(lab);
    assert.equal(fp.netns.length, 3 + 2 + 2, `namespaces: ${fp.netns.join(' ')}`);
    assert.ok(fp.pids.length >= 3 * 3 + 3, `lab processes found: ${fp.pids.length}`);
    await lab.destroy();
    console.log(`# lab ${lab.id}: teardown ${lab.timings.downMs} ms`);
    assert.deepEqual(await labLeftovers(lab, fp), []);
    await lab.destroy(); // idempotent
  });
});
