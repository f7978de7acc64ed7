import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeFailure, errorLines } from '../harness/failure-format';

test('a failure is its name, file and the assertion message behind the test error', () => {
  const text = describeFailure({
    type: 'test:fail',
    data: {
      name: 'plugin restart',
      nesting: 0,
      file: '/repo/dist/test/e2e/restart.test.js',
      details: { duration_ms: 7400, error: { message: 'test failed', failureType: 'testCodeFailure', cause: new Error('graceful stop exits 0\n+ 137\n- 0') } },
    },
  }, '/repo');
  assert.equal(text, 'FAIL plugin restart (7.4 s)\n  in dist/test/e2e/restart.test.js\n  | graceful stop exits 0\n  | + 137\n  | - 0\n');
});

test('a parent failing only through its subtests is left out; long errors are cut', () => {
  assert.equal(describeFailure({ type: 'test:fail', data: { name: 'suite', nesting: 0, details: { error: { failureType: 'subtestsFailed' } } } }), undefined);
  const lines = errorLines({ cause: Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n') });
  assert.equal(lines.length, 7);
  assert.equal(lines[6], '... (14 more lines)');
  assert.deepEqual(errorLines({ message: 'timed out' }), ['timed out']);
});
