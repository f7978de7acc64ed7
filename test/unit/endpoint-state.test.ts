// Start-up reconcile's judgement of an endpoint: only what Docker shows (the container end in a
// namespace, the sandbox's netns file) decides; a veth in the host namespace alone proves nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deadAfterGrace, endpointState } from '../../src/driver/reconcile';
import type { Endpoint } from '../../src/driver/model';
import type { LinkInfo } from '../../src/driver/links';

const ep = (o: Partial<Endpoint> = {}): Endpoint => ({ id: 'e', networkId: 'n', hostIf: 'ocnh1', peerIf: 'ocnc1', mac: '', macGenerated: true, ports: [], ...o });
const link = (name: string, o: Partial<LinkInfo> = {}): [string, LinkInfo] => [name, { index: 1, name, mtu: 1500, up: true, ...o }];
const sandboxes = (...keys: string[]) => (k: string) => keys.includes(k);
const hostNs = new Map([link('ocnh1'), link('ocnc1')]);

test('an endpoint whose container end is in a namespace is in use', () => {
  assert.deepEqual(endpointState(ep({ sandbox: '/run/netns/x' }), new Map([link('ocnh1', { linkNetnsId: 3 })]), true, sandboxes()), { inUse: true });
});

test('joined, sandbox still there, veth not yet moved (kill -9 before the prestart hook): not dead, not even after the grace period', () => {
  const s = endpointState(ep({ sandbox: '/run/netns/x' }), hostNs, true, sandboxes('/run/netns/x'));
  assert.ok('undecided' in s, JSON.stringify(s));
  assert.equal(deadAfterGrace(s), undefined);
});

test('created, not joined yet: undecided at start-up, dead if still unjoined after the grace period', () => {
  const s = endpointState(ep(), hostNs, true, sandboxes());
  assert.ok('undecided' in s);
  assert.match(deadAfterGrace(s) ?? '', /not joined/);
});

test('dead: sandbox gone with the veth back here, veth gone, network gone', () => {
  assert.match(deadAfterGrace(endpointState(ep({ sandbox: '/x' }), hostNs, true, sandboxes())) ?? '', /sandbox \/x is gone/);
  assert.deepEqual(endpointState(ep(), new Map(), true, sandboxes()), { dead: 'its veth is gone' });
  assert.deepEqual(endpointState(ep(), hostNs, false, sandboxes()), { dead: 'its network is gone' });
});
