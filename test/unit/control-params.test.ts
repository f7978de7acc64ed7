// peers.set params: a list of IPv4 addresses by position or as {"peers": [...]}, nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JSONRPCErrorCode } from 'json-rpc-2.0';
import { peersParam } from '../../src/server/control';

test('peers.set takes a positional list or {"peers": [...]}; duplicates collapse', () => {
  assert.deepEqual(peersParam(['10.0.0.2', '10.0.0.3', '10.0.0.2']), ['10.0.0.2', '10.0.0.3']);
  assert.deepEqual(peersParam({ peers: ['10.0.0.4'] }), ['10.0.0.4']);
  assert.deepEqual(peersParam({ peers: [] }), [], 'the explicit way to remove every peer');
});

test('peers.set refuses anything else with an invalid-params error naming what is accepted', () => {
  const cases: [unknown, RegExp][] = [
    [undefined, /no params given/],
    [[], /an empty positional list is not taken as "no peers"/],
    [{ peer: ['10.0.0.2'] }, /params \{"peer":\["10\.0\.0\.2"\]\} are not valid/],
    [{ peers: '10.0.0.2' }, /are not valid/],
    [{ peers: ['10.0.0.2'], extra: 1 }, /are not valid/],
    [null, /params null are not valid/],
    [['10.0.0.2', 'fd00::1'], /"fd00::1" is not an IPv4 address/],
    [['10.0.0.2,10.0.0.3'], /"10\.0\.0\.2,10\.0\.0\.3" is not an IPv4 address/],
    [[7], /7 is not an IPv4 address/],
  ];
  for (const [params, why] of cases) {
    assert.throws(() => peersParam(params), (e: Error & { code?: number }) => {
      assert.equal(e.code, JSONRPCErrorCode.InvalidParams);
      assert.match(e.message, why);
      assert.match(e.message, /accepted: a list of IPv4 addresses, \["10\.0\.0\.2","10\.0\.0\.3"\] or \{"peers": \["10\.0\.0\.2","10\.0\.0\.3"\]\}; \{"peers": \[\]\} removes every peer/);
      return true;
    }, JSON.stringify(params));
  }
});
