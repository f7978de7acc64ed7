// One private dockerd (test/harness/dockerd.ts) with the busybox image and a product plugin
// daemon registered as a legacy plugin, shared by the dockerd and data-path sections and torn
// down at the end of the run.
import { Dockerd, startDockerd } from '../../test/harness/dockerd';
import { ensureBusyboxImage } from '../../test/harness/image';
import { ensureSystemOvs } from '../../test/harness/ovs';
import type { Ctx } from './context';
import { onCleanup } from './cleanup';
import { BenchPlugin, RUN_TAG, startBenchPlugin } from './plugins';

export interface DockerEnv {
  d: Dockerd;
  plugin: BenchPlugin;
}

let shared: Promise<DockerEnv> | undefined;

export function dockerEnv(ctx: Ctx): Promise<DockerEnv> {
  shared ??= (async () => {
    await ensureSystemOvs();
    ctx.log('starting a private dockerd');
    const d = await startDockerd({ name: `ocnb${RUN_TAG}` });
    onCleanup('dockerd', () => d.cleanup(), 'run');
    await ensureBusyboxImage(d);
    const plugin = await startBenchPlugin('docker', 'product', { scope: 'run' });
    ctx.log(`dockerd up in ${(d.startupMs / 1000).toFixed(1)} s; plugin ${plugin.name}`);
    return { d, plugin };
  })();
  shared.catch(() => (shared = undefined));
  return shared;
}

/** Removes containers (in parallel batches) by id; never throws. */
export async function removeContainers(d: Dockerd, ids: string[]): Promise<void> {
  const batches: string[][] = [];
  for (let i = 0; i < ids.length; i += 10) batches.push(ids.slice(i, i + 10));
  await Promise.all(batches.map((b) => d.docker(['rm', '-f', ...b], { timeoutMs: 300_000 })));
}
