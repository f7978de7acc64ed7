import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetwork, parseCidr, overlaps, hostRange, bigIntToIp, formatCidr } from '../../src/ipam/cidr';
import { macFor, normaliseMac } from '../../src/driver/mac';

test('cidr parsing and host bits', () => {
  assert.equal(formatCidr(parseNetwork('10.1.0.0/16')), '10.1.0.0/16');
  assert.throws(() => parseNetwork('10.1.0.5/16'), /host bits set; did you mean 10.1.0.0\/16/);
  assert.throws(() => parseCidr('10.1.0.0'), /not in CIDR form/);
  assert.throws(() => parseCidr('10.1.0.0/33'), /longer than 32/);
  assert.equal(formatCidr(parseNetwork('fd00:1::/64')), 'fd00:1::/64');
});

test('overlap and host range', () => {
  assert.ok(overlaps(parseNetwork('10.0.0.0/8'), parseNetwork('10.2.0.0/16')));
  assert.ok(!overlaps(parseNetwork('10.0.0.0/24'), parseNetwork('10.0.1.0/24')));
  assert.ok(!overlaps(parseNetwork('10.0.0.0/24'), parseNetwork('fd00::/64')));
  const r = hostRange(parseNetwork('10.0.0.0/30'));
  assert.equal(bigIntToIp(r.first, false), '10.0.0.1');
  assert.equal(bigIntToIp(r.last, false), '10.0.0.2');
  const r32 = hostRange(parseNetwork('10.0.0.7/32'));
  assert.equal(r32.first, r32.last);
});

test('MACs are stable, locally administered, derived from the address', () => {
  assert.equal(macFor('10.10.0.2/24', undefined, 'e1'), '0a:58:0a:0a:00:02');
  assert.equal(macFor(undefined, 'fd00::a:b/64', 'e1'), '0a:58:00:0a:00:0b');
  assert.equal(macFor(undefined, undefined, 'e1'), macFor(undefined, undefined, 'e1'));
  assert.notEqual(macFor(undefined, undefined, 'e1'), macFor(undefined, undefined, 'e2'));
  assert.equal(normaliseMac('02-42-AC-11-00-02'), '02:42:ac:11:00:02');
  assert.throws(() => normaliseMac('01:00:5e:00:00:01'), /multicast/);
  assert.throws(() => normaliseMac('zz'), /not valid/);
});
