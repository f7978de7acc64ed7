// Self-test of the lab's 'external' chassis mode (the product's `chassis setup` writes the OVN
// keys) and of a dockerd inside a lab host that discovers the host's plugin daemon.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import { BUSYBOX_IMAGE } from '../harness/image';
import { Lab, LabDockerd, labFootprint, labLeftovers, startLab, startLabDockerd } from './lab';

describe('lab: external chassis mode, dockerd inside a host', () => {
  let lab: Lab;

  before(async () => {
    lab = await startLab({ hosts: 2, ovn: true, chassis: 'external' });
  });
  after(async () => {
    await lab?.destroy();
  });

  it("leaves the OVN keys to the product's chassis setup, then ovn-controller registers it", async () => {
    for (const h of lab.hosts) {
      assert.equal(await h.systemId(), h.name, 'system-id as ovs-ctl would leave it');
      assert.equal(await h.vsctl('--if-exists', 'get', 'Open_vSwitch', '.', 'external_ids:ovn-remote'), '');
    }
    // either order: controller first (waits for the keys) on h1, setup first on h2
    const c1 = lab.startController('h1');
    await lab.hosts[0].chassisSetup();
    await lab.hosts[1].chassisSetup();
    const [n1, n2] = await Promise.all([c1, lab.startController(2)]);
    assert.equal(n1, await lab.hosts[0].systemId());
    assert.equal(n2, await lab.hosts[1].systemId());
    assert.equal(await lab.hosts[0].vsctl('get', 'Open_vSwitch', '.', 'external_ids:ovn-encap-ip'), '"192.168.100.1"');
    await lab.waitTunnels();
    const tunnels = (await lab.hosts[0].vsctl('--bare', '--columns=name', 'find', 'Interface', 'type=geneve')).split(/\s+/).filter(Boolean);
    assert.equal(tunnels.length, 1);
  });

  it("runs a dockerd in h1 that sees h1's plugin as /run/docker/plugins/<name>.sock", async () => {
    const h = lab.hosts[0];
    const d: LabDockerd = await startLabDockerd(lab, h, { image: true });
    console.log(`# lab ${lab.id}: dockerd in h1 up in ${d.startupMs} ms`);
    const p = await h.startPlugin([], { pluginDir: '/run/docker/plugins' }); // = h.pluginDir
    assert.equal(p.socket, `${h.pluginDir}/${p.name}.sock`);
    const seen = await d.nsExec('ls', ['/run/docker/plugins']);
    assert.ok(seen.stdout.split(/\s+/).includes(`${p.name}.sock`), `dockerd's view: ${seen.stdout}`);
    // the dockerd is private: its own name/ID, links of h1's netns only
    assert.equal((await d.dockerOk(['info', '-f', '{{.Name}}'])).stdout.trim(), 'h1');
    assert.equal(fs.existsSync('/run/docker/plugins/' + `${p.name}.sock`), false, 'nothing in the root /run/docker/plugins');

    await d.dockerOk(['network', 'create', '-d', p.name, '--subnet', '10.77.0.0/24', '-o', 'bridge=br-lab', 'n1']);
    const r = await d.dockerOk(['run', '--rm', '--network', 'n1', '--ip', '10.77.0.5', BUSYBOX_IMAGE, 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    assert.match(r.stdout, /inet 10\.77\.0\.5\/24/);
    assert.ok((await h.vsctl('list-br')).split('\n').includes('br-lab'), "the daemon built br-lab in h1's OVS");
    // left running (a container on the plugin's network, the plugin, the dockerd): destroy() cleans up
    await d.dockerOk(['run', '-d', '--name', 'c1', '--network', 'n1', BUSYBOX_IMAGE, 'sleep', '1000']);
  });

  it('tears down with nothing left', async () => {
    const fp = await labFootprint(lab);
    await lab.destroy();
    console.log(`# lab ${lab.id}: teardown with a dockerd and a container ${lab.timings.downMs} ms`);
    assert.deepEqual(await labLeftovers(lab, fp), []);
  });
});
