// examples/compose/docker-compose.yml run by Debian's docker-compose 1.29 against a private
// dockerd and the legacy-socket daemon (random driver name, passed through OCN_DRIVER): the
// services reach each other, `down` removes everything (containers, networks, OVS ports,
// bridge, records, rules).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run, RunResult, waitFor } from '../harness/exec';
import { vsctl, vsctlRun } from '../harness/ovs';
import { assertTeardownClean, cleanup, Env, IMAGE, netSettings, setup } from '../e2e/helpers';
import { addr, freeSubnets, note, rand, REPO, sec, timed } from './common';

const COMPOSE = 'docker-compose';
const FILE = () => path.join(REPO(), 'examples', 'compose', 'docker-compose.yml');

let env: Env | undefined;
let project = '';
let vars: Record<string, string> = {};

function compose(args: string[], timeoutMs = 180_000): Promise<RunResult> {
  return run(COMPOSE, ['-p', project, '-f', FILE(), ...args], {
    env: { ...vars, DOCKER_HOST: env!.d.host },
    unsetEnv: ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'COMPOSE_PROJECT_NAME', 'COMPOSE_FILE'],
    timeoutMs,
  });
}

before(async () => {
  if (!fs.existsSync('/usr/bin/docker-compose')) throw new Error('docker-compose missing: apt-get install docker-compose');
  env = await setup(`compose-${rand(2)}`);
  const [front, back] = await freeSubnets(2);
  project = `ocnc${rand(2)}`;
  vars = {
    OCN_DRIVER: env.P,
    OCN_IMAGE: IMAGE,
    OCN_FRONT_SUBNET: front,
    OCN_WEB_IP: addr(front, 10),
    OCN_BACK_SUBNET: back,
    OCN_BRIDGE: env.bridge,
  };
  note(`compose project ${project}: ${JSON.stringify(vars)}`);
});

after(async () => {
  await cleanup(env, async () => {
    if (env?.d.alive()) await compose(['down', '--remove-orphans', '-t', '1'], 120_000);
  });
});

test('compose example: up creates both networks on the plugin, the services talk, down removes everything', async () => {
  const e = env!;
  const [up, upMs] = await timed(() => compose(['up', '-d']));
  assert.equal(up.code, 0, `docker-compose up failed:\n${up.stderr}\n${up.stdout}`);
  note(`docker-compose up -d: ${sec(upMs)}`);

  // both networks are ours, with the driver options and the plugin's IPAM on back
  for (const [n, ipam] of [['front', 'default'], ['back', e.P]] as const) {
    const j = JSON.parse((await e.d.dockerOk(['network', 'inspect', `${project}_${n}`])).stdout)[0] as {
      Driver: string; Options: Record<string, string>; IPAM: { Driver: string }; Internal: boolean;
    };
    assert.equal(j.Driver, e.P, `${n} uses the plugin`);
    assert.equal(j.Options.bridge, e.bridge);
    assert.equal(j.IPAM.Driver, ipam, `${n} IPAM`);
    assert.equal(j.Internal, n === 'back');
  }
  const web = `${project}_web_1`;
  const client = `${project}_client_1`;
  assert.equal((await netSettings(e, web, `${project}_front`)).IPAddress, vars.OCN_WEB_IP, 'ipv4_address honoured');

  // the client's own loop fetches from web by service name
  const [, talkMs] = await timed(() =>
    waitFor(async () => (await compose(['logs', '--no-color', 'client'], 30_000)).stdout.includes('hello from web'), {
      timeoutMs: 30_000, intervalMs: 500, what: 'the client to log "hello from web"',
    }),
  );
  note(`client reached web ${sec(talkMs)} after up`);
  const ping = await e.d.docker(['exec', client, 'ping', '-c', '1', '-W', '2', 'web']);
  assert.equal(ping.code, 0, `client pings web by service name: ${ping.stdout}${ping.stderr}`);
  assert.match(ping.stdout, new RegExp(`PING web \\(${vars.OCN_WEB_IP.replace(/\./g, '\\.')}\\)`), 'web resolves to its fixed address');

  const ports = (await vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-owner=${e.P}`, 'external_ids:ocn-owner-type=endpoint')).split(/\s+/).filter((n) => n.startsWith('ocnh'));
  assert.equal(ports.length, 3, `three endpoint ports (web x2, client): ${ports}`);

  const [down, downMs] = await timed(() => compose(['down', '-t', '5']));
  assert.equal(down.code, 0, `docker-compose down failed:\n${down.stderr}`);
  note(`docker-compose down: ${sec(downMs)}`);
  assert.equal((await e.d.dockerOk(['ps', '-aq'])).stdout.trim(), '', 'no containers left');
  const nets = (await e.d.dockerOk(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n');
  assert.deepEqual(nets.filter((n) => n.startsWith(`${project}_`)), [], 'the project networks are gone');
  await waitFor(async () => (await vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-owner=${e.P}`)) === '', {
    timeoutMs: 15_000, what: 'the OVS ports to go',
  });
  assert.equal((await vsctlRun('br-exists', e.bridge)).code, 2, `bridge ${e.bridge} removed with the last network`);
  await assertTeardownClean(e);
});
