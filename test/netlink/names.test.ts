import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertIfName,
  CONTAINER_VETH_PREFIX,
  HOST_VETH_PREFIX,
  ifNameProblem,
  isOurVeth,
  MAX_IFNAME_BYTES,
  vethNames,
} from '../../src/netlink/names';

const EP = '3f9c1a2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8';

test('vethNames: deterministic, <= 15 bytes, distinct prefixes, first 11 hex chars', () => {
  const n = vethNames(EP);
  assert.deepEqual(n, { host: 'ocnh3f9c1a2b4d5', container: 'ocnc3f9c1a2b4d5' });
  assert.deepEqual(vethNames(EP), n);
  assert.equal(n.host.length, MAX_IFNAME_BYTES);
  assert.equal(n.container.length, MAX_IFNAME_BYTES);
  assert.ok(n.host.startsWith(HOST_VETH_PREFIX) && n.container.startsWith(CONTAINER_VETH_PREFIX));
  assert.notEqual(HOST_VETH_PREFIX, CONTAINER_VETH_PREFIX);
  assert.equal(ifNameProblem(n.host), undefined);
  assert.deepEqual(vethNames(EP.toUpperCase()), n); // normalized to lower case
});

test('vethNames rejects anything but a 64-hex endpoint id', () => {
  for (const bad of ['', 'abc', EP.slice(1), EP + '0', EP.replace('3', 'g'), `${EP.slice(0, 63)} `]) {
    assert.throws(() => vethNames(bad), (e: unknown) => e instanceof RangeError && (e as { code?: string }).code === 'EINVAL');
  }
});

test('isOurVeth: only names vethNames can produce', () => {
  const n = vethNames(EP);
  assert.ok(isOurVeth(n.host));
  assert.ok(isOurVeth(n.container));
  for (const other of ['eth0', 'ocnh', 'ocnh3f9c1a2b4d', 'ocnx3f9c1a2b4d5', 'ocnh3f9c1a2b4d5x', 'ocnhZZZZZZZZZZZ', 'vethocnh3f9c1a2']) {
    assert.equal(isOurVeth(other), false, other);
  }
});

test('interface name rules', () => {
  assert.equal(ifNameProblem('eth0'), undefined);
  assert.equal(ifNameProblem('a'.repeat(15)), undefined);
  assert.match(ifNameProblem('a'.repeat(16)) ?? '', /longer than 15 bytes/);
  assert.match(ifNameProblem('é'.repeat(8)) ?? '', /longer/); // 16 bytes in UTF-8, 8 characters
  assert.match(ifNameProblem('') ?? '', /empty/);
  for (const bad of ['.', '..', 'a/b', 'a b', 'a\tb', 'a:1', 'veth%d', 'a\nb']) {
    assert.notEqual(ifNameProblem(bad), undefined, JSON.stringify(bad));
  }
  assert.throws(() => assertIfName('x'.repeat(16)), /invalid interface name "x{16}": is longer than 15 bytes/);
});
