import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderRules, chainNames } from '../../src/net/firewall';
import { staleReason } from '../../src/driver/reconcile';
import { publishedPorts } from '../../src/driver/ports';
import type { Endpoint } from '../../src/driver/model';
import type { LinkInfo } from '../../src/driver/links';

test('chain names are short, per driver name', () => {
  const a = chainNames('ovs-container-network');
  const b = chainNames('other');
  assert.notEqual(a.post, b.post);
  for (const n of Object.values(a)) assert.ok(n.length <= 28, n);
});

test('rules: masquerade and forward accepts per subnet, DNAT per published port', () => {
  const c = chainNames('t');
  const text = renderRules(c, {
    networks: [{ id: 'abcdef0123456789', subnets: ['10.10.0.0/24'] }],
    ports: [{ proto: 'tcp', hostPort: 8080, containerIp: '10.10.0.2', containerPort: 80 }],
  });
  assert.match(text, new RegExp(`^:${c.post} - \\[0:0\\]$`, 'm'));
  assert.match(text, /-s 10.10.0.0\/24 ! -d 10.10.0.0\/24 -m comment --comment ocn:abcdef012345 -j MASQUERADE/);
  assert.match(text, /-p tcp --dport 8080 -j DNAT --to-destination 10.10.0.2:80/);
  assert.match(text, /-d 10.10.0.2 -p tcp --dport 80 -m conntrack --ctstate DNAT -j ACCEPT/);
  assert.equal(text.match(/^COMMIT$/gm)?.length, 2);
});

test('published ports: protocols, ephemeral host ports, IPv6 targets', () => {
  const used = new Set<string>(['tcp/49153']);
  const p = publishedPorts([
    { Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 },
    { Proto: 17, IP: '', Port: 53, HostIP: '127.0.0.1', HostPort: 5353, HostPortEnd: 5353 },
    { Proto: 6, IP: '', Port: 22, HostIP: '', HostPort: 0, HostPortEnd: 0 },
  ], ['10.0.0.2/24', 'fd00::2/64'], used);
  assert.deepEqual(p.map((x) => `${x.proto}:${x.hostIp ?? ''}:${x.hostPort}->${x.containerIp}:${x.containerPort}`), [
    'tcp::8080->10.0.0.2:80', 'tcp::8080->fd00::2:80', 'udp:127.0.0.1:5353->10.0.0.2:53', 'tcp::49154->10.0.0.2:22', 'tcp::49154->fd00::2:22',
  ]);
  assert.throws(() => publishedPorts([{ Proto: 1, Port: 1, HostPort: 1 }], ['10.0.0.2/24'], new Set()), /protocol number 1/);
});

const ep = (o: Partial<Endpoint> = {}): Endpoint => ({ id: 'e', networkId: 'n', hostIf: 'ocnh1', peerIf: 'ocnc1', mac: '', macGenerated: true, ports: [], ...o });
const link = (name: string, o: Partial<LinkInfo> = {}): [string, LinkInfo] => [name, { index: 1, name, mtu: 1500, up: true, ...o }];

test('reconcile never calls a live endpoint stale', () => {
  // joined: the peer is inside the container's namespace
  assert.equal(staleReason(ep({ sandbox: '/var/run/docker/netns/x' }), new Map([link('ocnh1', { linkNetnsId: 3 })]), true), undefined);
  // created but not joined yet: the peer is still here, no sandbox
  assert.equal(staleReason(ep(), new Map([link('ocnh1'), link('ocnc1')]), true), undefined);
});

test('reconcile names why an endpoint is dead', () => {
  assert.match(staleReason(ep(), new Map(), true) ?? '', /veth is gone/);
  assert.match(staleReason(ep(), new Map([link('ocnh1')]), false) ?? '', /network is gone/);
  assert.match(staleReason(ep({ sandbox: '/x' }), new Map([link('ocnh1'), link('ocnc1')]), true) ?? '', /container is gone/);
});
