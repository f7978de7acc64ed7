// DumpExclusiveGate with fake tasks: plain requests overlap, a dump runs alone, FIFO order,
// failures release their slot. No kernel involved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlagsGet, FlagsNew } from 'netlink';
import { DumpExclusiveGate, isDumpRequest, MAX_IN_FLIGHT } from '../../src/netlink/request';

/** Lets every pending promise callback run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A fake request whose completion the test controls, with a log of what ran when. */
class Harness {
  readonly gate: DumpExclusiveGate;
  readonly started: string[] = [];
  readonly violations: string[] = [];
  private readonly running = new Set<string>();
  private readonly finishers = new Map<string, { ok: (v: string) => void; fail: (e: Error) => void }>();
  maxRunning = 0;

  constructor(maxInFlight?: number) {
    this.gate = new DumpExclusiveGate(maxInFlight);
  }

  /** Submits a task named `id`; a dump if the name starts with 'D'. */
  submit(id: string): Promise<string> {
    const dump = id.startsWith('D');
    return this.gate.run(dump, () => {
      this.started.push(id);
      for (const other of this.running) {
        if (dump || other.startsWith('D')) this.violations.push(`${id} started while ${other} was running`);
      }
      this.running.add(id);
      this.maxRunning = Math.max(this.maxRunning, this.running.size);
      return new Promise<string>((ok, fail) => this.finishers.set(id, { ok, fail }));
    });
  }

  async finish(id: string, error?: Error): Promise<void> {
    const f = this.finishers.get(id);
    assert.ok(f && this.running.has(id), `${id} is not running`);
    this.running.delete(id);
    if (error) f.fail(error);
    else f.ok(`result of ${id}`);
    await settle();
    assert.deepEqual(this.violations, []);
  }
}

test('isDumpRequest: both NLM_F_DUMP bits', () => {
  assert.equal(isDumpRequest(FlagsGet.DUMP), true);
  assert.equal(isDumpRequest(FlagsGet.DUMP | FlagsGet.ATOMIC), true);
  assert.equal(isDumpRequest(0), false);
  assert.equal(isDumpRequest(FlagsGet.ROOT), false);
  assert.equal(isDumpRequest(FlagsNew.CREATE | FlagsNew.EXCL), false); // createVethPair, addAddress
});

test('plain requests run concurrently, up to maxInFlight, and return their results', async () => {
  const h = new Harness(Infinity);
  const results = ['a', 'b', 'c', 'd', 'e'].map((id) => h.submit(id));
  assert.deepEqual(h.started, ['a', 'b', 'c', 'd', 'e']); // all sent at once, in order
  for (const id of ['c', 'a', 'e', 'b', 'd']) await h.finish(id);
  assert.deepEqual(await Promise.all(results), ['a', 'b', 'c', 'd', 'e'].map((id) => `result of ${id}`));
  assert.equal(h.maxRunning, 5);
});

test('maxInFlight bounds plain requests; a freed slot goes to the oldest waiter', async () => {
  const h = new Harness(2);
  const all = ['a', 'b', 'c', 'd'].map((id) => h.submit(id));
  assert.deepEqual(h.started, ['a', 'b']);
  await h.finish('b');
  assert.deepEqual(h.started, ['a', 'b', 'c']);
  await h.finish('a');
  assert.deepEqual(h.started, ['a', 'b', 'c', 'd']);
  await h.finish('c');
  await h.finish('d');
  await Promise.all(all);
  assert.equal(h.maxRunning, 2);
});

test('maxInFlight: at least 1; the default is MAX_IN_FLIGHT', async () => {
  assert.throws(() => new DumpExclusiveGate(0), RangeError);
  assert.throws(() => new DumpExclusiveGate(NaN), RangeError);
  const h = new Harness();
  const all = Array.from({ length: MAX_IN_FLIGHT + 1 }, (_, i) => h.submit(`r${i}`));
  assert.equal(h.started.length, MAX_IN_FLIGHT);
  for (let i = 0; i <= MAX_IN_FLIGHT; i++) await h.finish(`r${i}`);
  await Promise.all(all);
});

test('a dump waits for requests in flight and holds back later ones until it is done', async () => {
  const h = new Harness();
  const all = [h.submit('a'), h.submit('b'), h.submit('D1'), h.submit('c')];
  assert.deepEqual(h.started, ['a', 'b']);
  await h.finish('a');
  assert.deepEqual(h.started, ['a', 'b'], 'the dump waits for b; c waits behind the dump');
  await h.finish('b');
  assert.deepEqual(h.started, ['a', 'b', 'D1']);
  h.submit('d').catch(() => undefined); // arrives during the dump: waits too
  const late = h.started.length;
  await settle();
  assert.equal(h.started.length, late);
  await h.finish('D1');
  assert.deepEqual(h.started, ['a', 'b', 'D1', 'c', 'd']);
  await h.finish('c');
  await h.finish('d');
  assert.equal(await all[2], 'result of D1');
});

test('dumps run one at a time and are not starved by a stream of requests', async () => {
  const h = new Harness();
  h.submit('a');
  h.submit('D1');
  h.submit('D2');
  h.submit('b');
  assert.deepEqual(h.started, ['a']);
  // Requests keep coming while `a` runs; they queue behind the dumps.
  h.submit('c');
  await h.finish('a');
  assert.deepEqual(h.started, ['a', 'D1']);
  await h.finish('D1');
  assert.deepEqual(h.started, ['a', 'D1', 'D2']);
  await h.finish('D2');
  assert.deepEqual(h.started, ['a', 'D1', 'D2', 'b', 'c']);
  await h.finish('b');
  await h.finish('c');
});

test('a failed task releases its slot: rejection, synchronous throw, failed dump', async () => {
  const h = new Harness(1);
  const a = assert.rejects(h.submit('a'), /EEXIST/);
  const d = assert.rejects(h.submit('D1'), /EBUSY/);
  const b = h.submit('b');
  await h.finish('a', new Error('EEXIST'));
  await a;
  await h.finish('D1', new Error('EBUSY'));
  await d;
  await h.finish('b');
  assert.equal(await b, 'result of b');

  const g = new DumpExclusiveGate(1);
  await assert.rejects(
    g.run(true, () => {
      throw new Error('sync');
    }),
    /sync/,
  );
  assert.equal(await g.run(true, async () => 'after'), 'after');
  assert.equal(await g.run(false, async () => 'and after'), 'and after');
});

test("the slot is free when the caller's await resumes: its next call starts at once", async () => {
  const g = new DumpExclusiveGate(1);
  await g.run(false, async () => undefined);
  let started = false;
  const p = g.run(true, async () => {
    started = true;
  });
  assert.equal(started, true);
  await p;
  await assert.rejects(g.run(false, () => Promise.reject(new Error('x'))));
  started = false;
  const q = g.run(true, async () => {
    started = true;
  });
  assert.equal(started, true);
  await q;
});

test('random mix: never a dump alongside anything, never over the limit, start order = submit order', async () => {
  let seed = 42;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const max of [1, 3, 16, Infinity]) {
    const g = new DumpExclusiveGate(max);
    const running = new Set<number>();
    const started: number[] = [];
    const violations: string[] = [];
    let peak = 0;
    const jobs: Promise<number>[] = [];
    for (let i = 0; i < 300; i++) {
      const dump = rand() < 0.15;
      const fail = rand() < 0.1;
      const delay = Math.floor(rand() * 3);
      jobs.push(
        g
          .run(dump, async () => {
            for (const other of running) if (dump || other < 0) violations.push(`${i} overlaps ${other}`);
            running.add(dump ? -1 - i : i);
            peak = Math.max(peak, running.size);
            started.push(i);
            await new Promise((r) => (delay === 0 ? setImmediate(r) : setTimeout(r, delay)));
            running.delete(dump ? -1 - i : i);
            if (fail) throw new Error(`job ${i} failed`);
            return i;
          })
          .catch(() => -1),
      );
      if (rand() < 0.3) await settle(); // submissions spread over several turns
    }
    await Promise.all(jobs);
    assert.deepEqual(violations, [], `max ${max}`);
    assert.deepEqual(started, [...started.keys()], `max ${max}`);
    assert.ok(peak <= max, `peak ${peak} > ${max}`);
    if (max > 1) assert.ok(peak > 1, `requests never overlapped (max ${max})`);
  }
});
