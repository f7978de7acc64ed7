import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderRules, renderDelta, desiredRules, chainNames } from '../../src/net/firewall';
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

test('rule deltas: appends for what is new, deletes for what went, nothing when unchanged, no chain flush', () => {
  const c = chainNames('t');
  const net = (id: string, subnet: string) => ({ id, subnets: [subnet] });
  const one = desiredRules(c, { networks: [net('aaaaaaaaaaaa1', '10.1.0.0/24')], ports: [] });
  const two = desiredRules(c, { networks: [net('aaaaaaaaaaaa1', '10.1.0.0/24'), net('bbbbbbbbbbbb2', '10.2.0.0/24')], ports: [] });
  assert.equal(renderDelta(two, two), undefined);
  const grow = renderDelta(one, two)!;
  assert.doesNotMatch(grow, /^:/m, 'no chain declaration, hence no flush of the rules already loaded');
  assert.deepEqual(grow.split('\n').filter((l) => l.startsWith('-')).map((l) => l.slice(0, 2)), ['-A', '-A', '-A']);
  assert.match(grow, /^-A \S+ -s 10\.2\.0\.0\/24 ! -d 10\.2\.0\.0\/24 .*MASQUERADE$/m);
  const shrink = renderDelta(two, one)!;
  assert.deepEqual(shrink.split('\n').filter((l) => l.startsWith('-')).map((l) => l.slice(0, 2)), ['-D', '-D', '-D']);
  assert.match(shrink, /^-D \S+ -d 10\.2\.0\.0\/24 -m conntrack/m);
  assert.equal(shrink.match(/^COMMIT$/gm)?.length, 2, 'one COMMIT per table touched');
  const nat = renderDelta(one, desiredRules(c, { networks: [net('aaaaaaaaaaaa1', '10.1.0.0/24')], ports: [{ proto: 'udp', hostPort: 53, containerIp: '10.1.0.5', containerPort: 53 }] }))!;
  assert.match(nat, /^\*nat\n-A \S+-DNAT -p udp --dport 53 -j DNAT --to-destination 10\.1\.0\.5:53\nCOMMIT$/m);
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
