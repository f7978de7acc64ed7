// Start-up reconcile's judgement of an endpoint: only the container end inside a namespace proves
// use; a veth in the host namespace is judged again after the grace period (dockerd creates the
// sandbox's netns file and moves the veth in only in its prestart hook, after Join).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deadAfterGrace, endpointState } from '../../src/driver/reconcile';
import type { Endpoint } from '../../src/driver/model';
import type { LinkInfo } from '../../src/driver/links';

const ep = (o: Partial<Endpoint> = {}): Endpoint => ({ id: 'e', networkId: 'n', hostIf: 'ocnh1', peerIf: 'ocnc1', mac: '', macGenerated: true, ports: [], ...o });
const link = (name: string, o: Partial<LinkInfo> = {}): [string, LinkInfo] => [name, { index: 1, name, mtu: 1500, up: true, ...o }];
const sandboxes = (...keys: string[]) => (k: string) => keys.includes(k);
const hostNs = new Map([link('ocnh1'), link('ocnc1')]);

test('an endpoint whose container end is in a namespace is in use, now and later', () => {
  const e = ep({ sandbox: '/run/netns/x' });
  const s = endpointState(e, new Map([link('ocnh1', { linkNetnsId: 3 })]), true);
  assert.deepEqual(s, { inUse: true });
  assert.equal(deadAfterGrace(s, e, sandboxes()), undefined);
});

test('joined, veth still in the host namespace, no netns file yet (kill -9 before the prestart hook): undecided at start-up', () => {
  const e = ep({ sandbox: '/run/netns/x' });
  const s = endpointState(e, hostNs, true);
  assert.ok('undecided' in s, JSON.stringify(s));
  // Later: with the netns there, dockerd is about to move the veth in; without it, the container is gone.
  assert.equal(deadAfterGrace(s, e, sandboxes('/run/netns/x')), undefined);
  assert.match(deadAfterGrace(s, e, sandboxes()) ?? '', /sandbox \/run\/netns\/x is gone/);
});

test('created, not joined: undecided at start-up, dead if still unjoined after the grace period', () => {
  const s = endpointState(ep(), hostNs, true);
  assert.ok('undecided' in s);
  assert.match(deadAfterGrace(s, ep(), sandboxes()) ?? '', /never joined/);
});

test('dead at once: veth gone, network gone', () => {
  assert.deepEqual(endpointState(ep(), new Map(), true), { dead: 'its veth is gone' });
  assert.deepEqual(endpointState(ep(), hostNs, false), { dead: 'its network is gone' });
});
