import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTap } from './helpers/tap';

// Shape of `node --test-reporter=tap file.js` output (Node 20).
const SAMPLE = `TAP version 13
# Subtest: a one
ok 1 - a one
  ---
  duration_ms: 2.8
  ...
# mean create 0.5 ms
# Subtest: b two
not ok 2 - b two
  ---
  duration_ms: 3.9
  error: |-
    1 !== 2
  ...
# Subtest: c skip
ok 3 - c skip # SKIP no reason
  ---
  duration_ms: 0.4
  ...
1..3
# tests 3
# pass 1
# fail 1
`;

test('parseTap: results, failure detail, skips, diagnostics; summary ignored', () => {
  const r = parseTap(SAMPLE);
  assert.deepEqual(
    r.map((x) => [x.name, x.ok, x.skip, x.diagnostics]),
    [
      ['a one', true, undefined, ['mean create 0.5 ms']],
      ['b two', false, undefined, []],
      ['c skip', true, 'no reason', []],
    ],
  );
  assert.match(r[1].detail, /error: \|-\n {2}1 !== 2/);
});
