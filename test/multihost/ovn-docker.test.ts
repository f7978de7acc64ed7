// A real dockerd inside a lab host, its containers on an OVN logical switch that spans hosts,
// talking to a container on another host.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, startLabDockerd, Lab, LabDockerd } from '../lab/lab';
import { BUSYBOX_IMAGE } from '../harness/image';
import type { Plugin } from '../harness/plugin';
import { run } from '../harness/exec';
import { attach, createNetwork, ping, ovnChassisUp } from './attach';

let lab: Lab;
let d: LabDockerd;
let p1: Plugin;
let p2: Plugin;
const names: string[] = [];

before(async () => {
  lab = await startLab({ hosts: 2, ovn: true, chassis: 'external' });
  await ovnChassisUp(lab);
  d = await startLabDockerd(lab, lab.hosts[0], { image: true });
  p1 = await lab.hosts[0].startPlugin(['--ovn-nb', lab.nbRemote], { pluginDir: '/run/docker/plugins' });
  p2 = await lab.hosts[1].startPlugin(['--ovn-nb', lab.nbRemote]);
});
after(async () => {
  for (const n of names) await run('ip', ['netns', 'del', n]);
  await lab?.destroy();
});

test('docker containers on host 1 and a container on host 2 share one OVN network', async () => {
  const t0 = Date.now();
  await d.dockerOk(['network', 'create', '-d', p1.name, '--ipam-driver', p1.name, '--subnet', '10.59.0.0/24', '--ip-range', '10.59.0.0/25', '-o', 'ovn.switch=dk', '-o', 'tenant_id=dk', 'dk']);
  const createMs = Date.now() - t0;
  const r = await d.dockerOk(['run', '-d', '--name', 'web1', '--network', 'dk', BUSYBOX_IMAGE, 'sleep', '1000']);
  assert.ok(r.stdout.trim());
  const ip1 = (await d.dockerOk(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'web1'])).stdout.trim();
  // Host 2 binds the same switch (same subnet, its own range so the test can tell them apart).
  const n2 = await createNetwork(p2, '10.59.0.0/24', { 'ovn.switch': 'dk', tenant_id: 'dk' }, undefined, '10.59.0.128/25');
  const c2 = await attach(lab.hosts[1], p2, n2, (() => { const x = `ocnk${Date.now() % 100000}`; names.push(x); return x; })());
  assert.ok(await ping(c2.ns, ip1), `host 2 -> docker container ${ip1} on host 1`);
  const back = await d.docker(['exec', 'web1', 'ping', '-c', '2', '-W', '2', c2.ip]);
  assert.equal(back.code, 0, `docker container -> host 2: ${back.stdout}${back.stderr}`);
  const lsp = await lab.nbctl('--bare', '--columns=name', 'find', 'Logical_Switch_Port', `addresses{>=}"${(await d.dockerOk(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.MacAddress}}{{end}}', 'web1'])).stdout.trim()} ${ip1}"`);
  assert.match(lsp, /^ocn-[0-9a-f]{64}$/, 'the docker container is an OVN logical port');
  console.log(`# docker network create (OVN) ${createMs} ms`);
  await d.dockerOk(['rm', '-f', 'web1']);
  await d.dockerOk(['network', 'rm', 'dk']);
  assert.doesNotMatch(await lab.nbctl('--bare', '--columns=name', 'list', 'Logical_Switch_Port'), new RegExp(lsp.trim()), 'its port left with it');
});
