import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderRules, renderDelta, desiredRules, chainNames } from '../../src/net/firewall';
import { publishedPorts } from '../../src/driver/ports';

test('chain names are short, per driver name', () => {
  const a = chainNames('ovs-container-network');
  const b = chainNames('other');
  assert.notEqual(a.post, b.post);
  for (const n of Object.values(a)) assert.ok(n.length <= 28, n);
});

test('rules: masquerade and forward accepts per subnet, DNAT per published port', () => {
  const c = chainNames('t');
  const text = renderRules(c, {
    networks: [{ id: 'abcdef0123456789', subnets: ['10.10.0.0/24'], gateway: 'ocngabcdef01234' }],
    ports: [{ proto: 'tcp', hostPort: 8080, containerIp: '10.10.0.2', containerPort: 80 }],
  });
  assert.match(text, new RegExp(`^:${c.post} - \\[0:0\\]$`, 'm'));
  assert.match(text, /-s 10.10.0.0\/24 ! -o ocng\+ -m comment --comment ocn:abcdef012345 -j MASQUERADE/);
  assert.match(text, /-p tcp --dport 8080 -j DNAT --to-destination 10.10.0.2:80/);
  assert.match(text, /-d 10.10.0.2 -p tcp --dport 80 -m conntrack --ctstate DNAT -j ACCEPT/);
  assert.equal(text.match(/^COMMIT$/gm)?.length, 4);
});

test('rule deltas: appends for what is new, deletes for what went, nothing when unchanged, no chain flush', () => {
  const c = chainNames('t');
  const net = (id: string, subnet: string) => ({ id, subnets: [subnet], gateway: `ocng${id.slice(0, 11)}` });
  const one = desiredRules(c, { networks: [net('aaaaaaaaaaaa1', '10.1.0.0/24')], ports: [] });
  const two = desiredRules(c, { networks: [net('aaaaaaaaaaaa1', '10.1.0.0/24'), net('bbbbbbbbbbbb2', '10.2.0.0/24')], ports: [] });
  assert.equal(renderDelta(two, two), undefined);
  const grow = renderDelta(one, two)!;
  assert.doesNotMatch(grow, /^:/m, 'no chain declaration, hence no flush of the rules already loaded');
  assert.ok(grow.split('\n').filter((l) => l.startsWith('-')).every((l) => l.startsWith('-A ') || l.startsWith('-I ')), 'only additions');
  assert.match(grow, /^-A \S+ -s 10\.2\.0\.0\/24 ! -o ocng\+ .*MASQUERADE$/m);
  const shrink = renderDelta(two, one)!;
  assert.ok(shrink.split('\n').filter((l) => l.startsWith('-')).every((l) => l.startsWith('-D ')), 'only deletes');
  assert.match(shrink, /^-D \S+ -o ocngbbbbbbbbbbb -m conntrack --ctstate RELATED,ESTABLISHED/m);
  assert.equal(shrink.match(/^COMMIT$/gm)?.length, 3, 'one COMMIT per table touched');
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

test('isolation: networks drop what enters them from other networks, tenants route to each other, Linux bridges get only answers', () => {
  const c = chainNames('t');
  const mk = (id: string, gateway: string, tenant?: string) => ({ id, subnets: [`10.${id.length}.0.0/24`], gateway, tenant });
  const r = desiredRules(c, { networks: [mk('aaaaaaaaaaaa', 'ocnga', 't1'), mk('bbbbbbbbbbbb', 'ocngb', 't1'), mk('cccccccccccc', 'ocngc')], ports: [] }, ['docker0', 'br-0123456789ab']);
  const iso = r.mangle.map((l) => l.replace(/ -m comment --comment \S+/, ''));
  // Same tenant: a and b let each other in; c (no tenant) lets nobody in.
  assert.ok(iso.includes(`-A ${c.iso} -i ocngb -o ocnga -j RETURN`));
  assert.ok(iso.includes(`-A ${c.iso} -i ocnga -o ocngb -j RETURN`));
  assert.ok(!iso.some((l) => / -i ocng[ab] -o ocngc /.test(l)), 'no way into c');
  for (const g of ['ocnga', 'ocngb', 'ocngc']) {
    const mine = iso.filter((l) => l.includes(` -o ${g} `));
    assert.equal(mine.at(-1), `-A ${c.iso} -o ${g} -j DROP`, `${g}: the drop comes after its exceptions`);
    assert.ok(mine.includes(`-A ${c.iso} -o ${g} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j RETURN`), 'answers and published ports pass');
  }
  for (const b of ['docker0', 'br-0123456789ab']) assert.ok(iso.includes(`-A ${c.iso} -i ocng+ -o ${b} -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`));
  assert.deepEqual(desiredRules(c, { networks: [], ports: [] }, ['docker0']).mangle, [], 'no network, no rule');
  assert.ok(r.filter.every((l) => !/ -s /.test(l)), 'forwarding is decided by interface, never by a source address a container can forge');
});

test('isolation deltas keep every exception before every drop: exceptions are inserted at the top', () => {
  const c = chainNames('t');
  const net = (id: string, tenant: string) => ({ id, subnets: [`10.${id.length}.0.0/24`], gateway: `ocng${id}`, tenant });
  const one = desiredRules(c, { networks: [net('a', 't')], ports: [] });
  const two = desiredRules(c, { networks: [net('a', 't'), net('bb', 't')], ports: [] });
  const delta = renderDelta(one, two)!;
  assert.match(delta, new RegExp(`^-I ${c.iso} 1 -i ocngbb -o ocnga .*-j RETURN$`, 'm'), "b's way into a goes above a's drop");
  assert.match(delta, new RegExp(`^-A ${c.iso} -o ocngbb .*-j DROP$`, 'm'), 'drops are appended');
  const whole = two.mangle;
  assert.ok(whole.findIndex((l) => l.endsWith('-j DROP')) > whole.map((l) => l.endsWith('-j RETURN')).lastIndexOf(true), 'a whole load has the same order');
});
