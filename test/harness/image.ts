// The test image: busybox-static and its applet links, imported into a dockerd (no registry here).
import { execFile } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { runOk, RunResult } from './exec';
import { sharedDir } from './paths';

export const BUSYBOX_IMAGE = 'ocn-busybox:latest';
const BUSYBOX = '/bin/busybox';
const execFileP = promisify(execFile);

/** Anything that can run the docker CLI against one engine (a Dockerd does). */
export interface DockerCli {
  docker(args: string[], opts?: { timeoutMs?: number; input?: string | Buffer }): Promise<RunResult>;
}

let tarball: Promise<{ tar: Buffer; hash: string }> | undefined;

/** The rootfs tarball, built once per process (about 2 MB, a few tens of ms). */
function rootfsTar(): Promise<{ tar: Buffer; hash: string }> {
  tarball ??= (async () => {
    if (!fs.existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} missing: apt-get install busybox-static`);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ocn-rootfs-'));
    try {
      for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'tmp', 'root', 'proc', 'sys', 'dev', 'run', 'var/run', 'usr/share/udhcpc']) {
        fs.mkdirSync(path.join(root, d), { recursive: true });
      }
      fs.chmodSync(path.join(root, 'tmp'), 0o1777);
      fs.copyFileSync(BUSYBOX, path.join(root, 'bin/busybox'));
      fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
      // `--list-full` gives each applet's canonical place (bin/sh, sbin/ip, usr/bin/env, ...)
      const list = (await runOk(BUSYBOX, ['--list-full'])).stdout.split('\n').map((s) => s.trim()).filter(Boolean);
      for (const rel of list) {
        const p = path.join(root, rel);
        if (fs.existsSync(p)) continue;
        fs.mkdirSync(path.dirname(p), { recursive: true });
        fs.symlinkSync('/bin/busybox', p);
      }
      fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
      fs.writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
      const udhcpc = path.join(sharedDir(), 'lab', 'udhcpc.sh');
      if (fs.existsSync(udhcpc)) {
        fs.copyFileSync(udhcpc, path.join(root, 'usr/share/udhcpc/default.script'));
        fs.chmodSync(path.join(root, 'usr/share/udhcpc/default.script'), 0o755);
      }
      const { stdout: tar } = await execFileP('tar', ['-C', root, '--numeric-owner', '--owner=0', '--group=0', '--sort=name', '--mtime=@0', '-cf', '-', '.'], {
        encoding: 'buffer',
        maxBuffer: 256 << 20,
      });
      const hash = crypto.createHash('sha256').update(tar).digest('hex').slice(0, 16);
      return { tar, hash };
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  })();
  tarball.catch(() => (tarball = undefined));
  return tarball;
}

/**
 * Makes sure the engine has `ocn-busybox:latest` (imported once; kept while its content label
 * matches) and returns the image ID. `docker run ocn-busybox` defaults to /bin/sh.
 * Reminders: the static busybox's wget segfaults; there is no `true` applet (use `sleep 0`).
 */
export async function ensureBusyboxImage(docker: DockerCli): Promise<string> {
  const { tar, hash } = await rootfsTar();
  const have = await docker.docker(['image', 'inspect', '-f', '{{.Id}} {{index .Config.Labels "ocn.busybox"}}', BUSYBOX_IMAGE], { timeoutMs: 30_000 });
  if (have.code === 0) {
    const [id, label] = have.stdout.trim().split(' ');
    if (label === hash) return id;
  }
  const r = await docker.docker(
    ['import', '--change', 'CMD ["/bin/sh"]', '--change', 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin', '--change', `LABEL ocn.busybox=${hash}`, '-', BUSYBOX_IMAGE],
    { input: tar, timeoutMs: 120_000 },
  );
  if (r.code !== 0) throw new Error(`docker import ${BUSYBOX_IMAGE} failed: ${r.stderr.trim() || r.stdout.trim()}`);
  const id = await docker.docker(['image', 'inspect', '-f', '{{.Id}}', BUSYBOX_IMAGE], { timeoutMs: 30_000 });
  if (id.code !== 0) throw new Error(`image ${BUSYBOX_IMAGE} missing right after import: ${id.stderr}`);
  return id.stdout.trim();
}
