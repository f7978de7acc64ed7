// Where things are, relative to the repository (never to an absolute /work path).
import * as fs from 'fs';
import * as path from 'path';

let cachedRoot: string | undefined;

/**
 * The repository root: the nearest ancestor of this file holding the project's package.json.
 * Works for the compiled file (dist/test/harness/) and for the source (test/harness/).
 */
export function repoRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if (JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'ovs-container-network') return (cachedRoot = dir);
      } catch {
        /* keep looking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`repository root (package.json of ovs-container-network) not found above ${__dirname}`);
    dir = up;
  }
}

/** `<repo>/../shared` (CI clones main next to shared); OCN_SHARED_DIR overrides it. */
export function sharedDir(): string {
  return process.env.OCN_SHARED_DIR || path.resolve(repoRoot(), '..', 'shared');
}
