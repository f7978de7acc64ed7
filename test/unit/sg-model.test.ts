// Security group definitions as the control API parses them: normalised rules, and refusals that
// name the field with the spec's error codes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SgError, defaultGroup, groupView, parseGroup, parseRemoteCidr, referencedGroups, sgKey, splitSgKey, sgKeys } from '../../src/secgroups/model';

const refused = (params: unknown, code: string, field: RegExp) => {
  assert.throws(() => parseGroup(params), (e: unknown) => e instanceof SgError && e.code === code && field.test(e.field ?? '') && field.test(e.message));
};

test('a group parses to normalised rules and back to the API form', () => {
  const g = parseGroup({
    name: 'web', tenant: 't1', description: 'd',
    ingress: [{ protocol: 'tcp', ports: '8000-8100', remote: '10.1.2.3/8' }, { protocol: 'icmp', remote: { group: 'web' } }, { protocol: 'udp', ports: 53 }],
    egress: [{ protocol: 'all', remote: '2001:db8::1/32' }],
  });
  assert.deepEqual(g.ingress[0], { protocol: 'tcp', ports: [8000, 8100], remote: { cidr: '10.0.0.0/8' } });
  assert.deepEqual(g.ingress[2], { protocol: 'udp', ports: [53, 53], remote: { cidr: '0.0.0.0/0' } });
  assert.deepEqual(g.egress[0].remote, { cidr: '2001:db8::/32' });
  assert.deepEqual(referencedGroups(g), ['web']);
  const v = groupView(g) as { ingress: { ports?: string; remote: unknown }[] };
  assert.equal(v.ingress[0].ports, '8000-8100');
  assert.equal(v.ingress[2].ports, '53');
  assert.deepEqual(v.ingress[1].remote, { group: 'web' });
  assert.deepEqual(parseGroup(groupView(g)), g, 'the API form parses back to the same group');
});

test('bad definitions are refused naming the field', () => {
  refused({ name: 'x', ingress: [{ protocol: 'tcp', remote: '10.0.0.0/33' }] }, 'INVALID_CIDR', /ingress\[0\]\.remote/);
  refused({ name: 'x', egress: [{ protocol: 'tcp', remote: 'ten' }] }, 'INVALID_CIDR', /egress\[0\]\.remote/);
  refused({ name: 'x', ingress: [{ protocol: 'icmp', ports: '80' }] }, 'INVALID_ARGUMENT', /ingress\[0\]\.ports/);
  refused({ name: 'x', ingress: [{ protocol: 'tcp', ports: '90-80' }] }, 'INVALID_ARGUMENT', /ingress\[0\]\.ports/);
  refused({ name: 'x', ingress: [{ protocol: 'tcp', ports: '70000' }] }, 'INVALID_ARGUMENT', /ingress\[0\]\.ports/);
  refused({ name: 'x', ingress: [{ protocol: 'sctp' }] }, 'INVALID_ARGUMENT', /ingress\[0\]\.protocol/);
  refused({ name: 'x', ingress: [{ protocol: 'tcp', remote: { group: 'a', cidr: '1.2.3.4' } }] }, 'INVALID_ARGUMENT', /ingress\[0\]\.remote/);
  refused({ name: 'x', ingress: [{ protocol: 'tcp', port: '80' }] }, 'INVALID_ARGUMENT', /ingress\[0\]\.port/);
  refused({ name: '-x' }, 'INVALID_ARGUMENT', /name/);
  refused({ name: 'x', tenant: 'a b' }, 'INVALID_ARGUMENT', /tenant/);
  refused({ name: 'x', ingres: [] }, 'INVALID_ARGUMENT', /ingres/);
});

test('keys, defaults and CIDR normalisation', () => {
  assert.equal(sgKey('t1', 'web'), 't1/web');
  assert.deepEqual(splitSgKey('t1/web'), { tenant: 't1', name: 'web' });
  assert.deepEqual(splitSgKey('/web'), { tenant: '', name: 'web' });
  assert.deepEqual(sgKeys(undefined, ['a', 'b']), ['/a', '/b']);
  assert.equal(parseRemoteCidr('f', '192.168.1.7'), '192.168.1.7/32');
  assert.equal(parseRemoteCidr('f', '2001:db8::7'), '2001:db8::7/128');
  const d = defaultGroup('t2');
  assert.equal(d.name, 'default');
  assert.deepEqual(d.ingress, [{ protocol: 'all', remote: { group: 'default' } }]);
});
