// Request/response over a NetlinkSocket with real errno errors.
//
// The package's own error path throws a plain Error('Request rejected: EEXIST') with no
// `code`, and the generic netlink wrapper throws "different family" on an ERROR reply.
// So we ask it for unchecked replies and read the ERROR message (struct nlmsgerr) here.

import { getSystemErrorMap } from 'util';
import { MessageType, NetlinkMessage, NetlinkSocket, parseError } from 'netlink';

/** A kernel rejection: `code` is the errno name ('EEXIST', 'ENODEV', ...). */
export class NetlinkError extends Error {
  readonly code: string;
  readonly errno: number;
  constructor(op: string, errno: number) {
    const [code, text] = getSystemErrorMap().get(-errno) ?? [`E${errno}`, 'unknown error'];
    super(`${op}: ${code} (${text})`);
    this.name = 'NetlinkError';
    this.code = code;
    this.errno = errno;
  }
}

/** Invalid argument detected before talking to the kernel. */
export class NetlinkArgumentError extends RangeError {
  readonly code = 'EINVAL';
  constructor(message: string) {
    super(message);
    this.name = 'NetlinkArgumentError';
  }
}

export const isErrno = (e: unknown, code: string): boolean =>
  e instanceof NetlinkError && e.code === code;

// A reply the kernel owes us never goes missing, but a socket error can strand a
// pending request: bound the wait so callers see an error instead of hanging.
const REQUEST_TIMEOUT_MS = 15_000;

/**
 * Sends one request (REQUEST|ACK are added by the package) and returns the non-ACK
 * replies (none for a plain ACK, many for a dump); throws NetlinkError on NLMSG_ERROR.
 */
export async function nlRequest(
  sock: NetlinkSocket,
  type: number,
  data: Uint8Array[],
  flags: number,
  op: string,
): Promise<NetlinkMessage[]> {
  const [msgs] = await sock.request(type, data, { flags, checkError: false, timeout: REQUEST_TIMEOUT_MS });
  const out: NetlinkMessage[] = [];
  for (const m of msgs) {
    if (m.type === MessageType.ERROR) {
      const { errno } = parseError(m.data, m.flags); // negative errno, 0 = ACK
      if (errno !== 0) throw new NetlinkError(op, -errno);
      continue;
    }
    out.push(m);
  }
  return out;
}

/**
 * Runs tasks one at a time. One netlink socket can run a single dump at a time
 * (EBUSY otherwise), and the package groups multipart replies per socket, so a
 * reply interleaved with a dump would corrupt it: serialize everything.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(task: () => Promise<T>): Promise<T> {
    const p = this.tail.then(task); // tail never rejects (see below)
    this.tail = p.catch(() => undefined);
    return p;
  }
}
