// Everything the suite creates is registered here and undone in reverse order at the end, on an
// error, and on SIGINT/SIGTERM: plugin daemons (and the iptables chains they leave by design),
// bridges, namespaces, veths, OVSDB records, dockerds.
type Task = { what: string; fn: () => Promise<unknown> | unknown };

const tasks: Task[] = [];
let running: Promise<void> | undefined;

/** Registers an undo step; returns a function that runs it now (and unregisters it). */
export function onCleanup(what: string, fn: () => Promise<unknown> | unknown): () => Promise<void> {
  const t: Task = { what, fn };
  tasks.push(t);
  return async () => {
    const i = tasks.indexOf(t);
    if (i < 0) return;
    tasks.splice(i, 1);
    await runTask(t);
  };
}

async function runTask(t: Task): Promise<void> {
  try {
    await t.fn();
  } catch (e) {
    console.error(`cleanup: ${t.what}: ${(e as Error).message}`);
  }
}

/** Runs every registered step, last registered first. Idempotent. */
export function cleanupAll(): Promise<void> {
  running ??= (async () => {
    while (tasks.length) await runTask(tasks.pop()!);
  })().finally(() => (running = undefined));
  return running;
}

let hooked = false;
export function installSignalCleanup(): void {
  if (hooked) return;
  hooked = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as NodeJS.Signals[]) {
    process.on(sig, () => {
      console.error(`\nbench: ${sig}: cleaning up...`);
      void cleanupAll().finally(() => process.exit(130));
    });
  }
}
