// The daemon killed (-9) at the points of an endpoint's life where the old start-up went wrong,
// against the real system OVS and kernel: between Join's answer and dockerd moving the container
// end into the sandbox, and between creating the veth and setting its alias.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startPlugin, Plugin } from '../harness/plugin';
import { ensureSystemOvs, vsctl, vsctlRun } from '../harness/ovs';
import { runOk } from '../harness/exec';
import { purgeChains } from '../harness/iptables';
import { chainNames } from '../../src/net/firewall';
import { ok, hexId, createNetworkBody, linkExists, waitGone } from './helpers';

const tag = crypto.randomBytes(2).toString('hex');
const BR = `brc${tag}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocn-sandbox-'));
let p: Plugin;

before(async () => {
  await ensureSystemOvs();
  p = await startPlugin();
});
after(async () => {
  await p?.stop();
  await purgeChains(new RegExp(`^${chainNames(p.name).post.slice(0, 10)}`));
  await vsctlRun('--if-exists', 'del-br', BR);
  fs.rmSync(dir, { recursive: true, force: true });
});

const record = (endpointId: string) => `ocn.${p.name}.ep.${endpointId}`;
const records = async () => vsctl('get', 'Open_vSwitch', '.', 'external_ids');

test('kill -9 after Join, before dockerd moved the veth into the sandbox: the restart keeps the endpoint; a record without a port is undone', async () => {
  const id = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(id, '10.207.0.0/24', '10.207.0.1/24', { bridge: BR }));
  // Joined: Docker's sandbox (its netns file) exists, the container end is still in the host namespace.
  const joined = hexId();
  await ok(p, 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: joined, Interface: { Address: '10.207.0.2/24', AddressIPv6: '', MacAddress: '' }, Options: {} });
  const sandbox = path.join(dir, 'sb1');
  fs.writeFileSync(sandbox, '');
  await ok(p, 'NetworkDriver.Join', { NetworkID: id, EndpointID: joined, SandboxKey: sandbox, Options: {} });
  const host = `ocnh${joined.slice(0, 11)}`;
  const before = { index: fs.readFileSync(`/sys/class/net/${host}/ifindex`, 'utf8'), uuid: await vsctl('get', 'Interface', host, '_uuid') };

  // A creation killed between the veth and its alias: a record and an unmarked veth, no port.
  const unfinished = hexId();
  const uHost = `ocnh${unfinished.slice(0, 11)}`;
  await p.kill9();
  await vsctl('set', 'Open_vSwitch', '.', `external_ids:${record(unfinished)}=${JSON.stringify(JSON.stringify({ id: unfinished, networkId: id, hostIf: uHost, peerIf: `ocnc${unfinished.slice(0, 11)}` }))}`);
  await runOk('ip', ['link', 'add', uHost, 'type', 'veth', 'peer', 'name', `ocnc${unfinished.slice(0, 11)}`]);
  await p.restart();
  await ok(p, 'NetworkDriver.EndpointOperInfo', { NetworkID: id, EndpointID: joined });

  assert.ok(await linkExists(`ocnc${joined.slice(0, 11)}`), 'the container end dockerd is about to move is still there');
  assert.equal(fs.readFileSync(`/sys/class/net/${host}/ifindex`, 'utf8'), before.index, 'the joined veth was not recreated');
  assert.equal(await vsctl('get', 'Interface', host, '_uuid'), before.uuid, 'the joined port was not recreated');
  assert.match(await records(), new RegExp(record(joined)), 'CreateEndpoint keeps a record of the endpoint');
  assert.ok(await waitGone(uHost), 'the unfinished creation\'s veth is removed although it has no alias');
  assert.doesNotMatch(await records(), new RegExp(record(unfinished)), 'and its record');

  // dockerd's DeleteEndpoint takes the record with the port.
  await ok(p, 'NetworkDriver.DeleteEndpoint', { NetworkID: id, EndpointID: joined });
  assert.doesNotMatch(await records(), new RegExp(record(joined)));
  assert.ok(await waitGone(host));
  await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: id });
});
