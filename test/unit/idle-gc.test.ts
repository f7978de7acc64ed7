import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fullGc, IdleCollector } from '../../src/util/idle-gc';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('one collection after the requests stop, none while they keep coming, none when never busy', async () => {
  let runs = 0;
  const c = new IdleCollector(() => runs++, 60);
  await sleep(100);
  assert.equal(runs, 0, 'no activity: no collection');
  for (let i = 0; i < 5; i++) {
    c.activity();
    await sleep(20);
  }
  assert.equal(runs, 0, 'still busy');
  await sleep(100);
  assert.equal(runs, 1, 'collected once the requests stopped');
  await sleep(100);
  assert.equal(runs, 1, 'and only once');
  c.activity();
  c.stop();
  await sleep(100);
  assert.equal(runs, 1, 'stop() cancels a pending collection');
});

test('V8 full collection is reachable without --expose-gc on the command line', () => {
  const gc = fullGc();
  assert.ok(gc, 'fullGc() found V8\'s gc()');
  gc();
});
