// Everything the suite creates is registered here and undone in reverse order at the end, on an
// error, and on SIGINT/SIGTERM: plugin daemons (and the iptables chains they leave by design),
// bridges, namespaces, veths, OVSDB records, dockerds.
// Steps are section-scoped (undone when the section ends) or run-scoped (a dockerd shared by two
// sections: undone when the whole run ends).
type Scope = 'section' | 'run';
type Task = { what: string; fn: () => Promise<unknown> | unknown; scope: Scope };

const tasks: Task[] = [];
let chain: Promise<void> = Promise.resolve();

/** Registers an undo step; returns a function that runs it now (and unregisters it). */
export function onCleanup(what: string, fn: () => Promise<unknown> | unknown, scope: Scope = 'section'): () => Promise<void> {
  const t: Task = { what, fn, scope };
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

/** Runs the registered steps (section-scoped only, or all), last registered first. Calls queue up. */
export function cleanupAll(scope: Scope = 'run'): Promise<void> {
  chain = chain.then(async () => {
    for (let i = tasks.length - 1; i >= 0; i = Math.min(i - 1, tasks.length - 1)) {
      if (scope === 'section' && tasks[i].scope !== 'section') continue;
      const [t] = tasks.splice(i, 1);
      await runTask(t);
    }
  });
  return chain;
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
