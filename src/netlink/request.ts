// Request/response over a NetlinkSocket with real errno errors.
//
// The package's own error path throws a plain Error('Request rejected: EEXIST') with no
// `code`, and the generic netlink wrapper throws "different family" on an ERROR reply.
// So we ask it for unchecked replies and read the ERROR message (struct nlmsgerr) here.

import { getSystemErrorMap } from 'util';
import { FlagsGet, MessageType, NetlinkMessage, NetlinkSocket, parseError } from './package';

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
 * Whether request flags ask for a dump. NLM_F_DUMP is two bits (ROOT|MATCH), which on a NEW
 * request mean REPLACE|EXCL: there this errs towards "dump", i.e. exclusive, which is safe.
 */
export const isDumpRequest = (flags: number): boolean => (flags & FlagsGet.DUMP) === FlagsGet.DUMP;

/**
 * Requests in flight per socket. Every reply sits in the socket's receive buffer (212 KiB
 * by default) until the event loop reads it, and one that does not fit is dropped with
 * ENOBUFS, on which netlink 0.3.0's poll handler throws from native code and aborts the
 * process. A veth's RTM_GETLINK reply plus its ACK take ~3 KiB there (measured: 80 getLink
 * calls sent at once, or 300 ethtool calls, aborted it); 16 use a quarter of the buffer.
 */
export const MAX_IN_FLIGHT = 16;

/**
 * Admits the requests of one netlink socket: plain requests overlap (up to `maxInFlight`),
 * a dump (NLM_F_DUMP) runs alone.
 * - Overlap is safe: the package matches each reply to its request by sequence number
 *   (`requests` map), and a plain request's reply is one non-multipart message.
 * - A dump must be alone: the kernel allows one dump per socket (EBUSY), and the package
 *   collects multipart messages per socket, not per sequence number: any other message
 *   read mid-dump (an ACK, a reply) cuts the group short and fails the dump ("Multipart
 *   message not terminated properly"). So a dump starts only once every earlier request
 *   has its reply (what a request leaves behind, the ACK after a GET's reply, was queued
 *   during its own sendmsg, hence is read before the dump's first part), and nothing is
 *   sent until the dump's DONE is read.
 * - FIFO: a waiting dump holds back the requests behind it, so dumps are not starved.
 */
export class DumpExclusiveGate {
  private running = 0;
  private dumping = false;
  private readonly waiting: { dump: boolean; start: () => void }[] = [];

  constructor(private readonly maxInFlight = MAX_IN_FLIGHT) {
    if (!(maxInFlight >= 1)) throw new RangeError(`maxInFlight must be >= 1, got ${maxInFlight}`);
  }

  run<T>(dump: boolean, task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        let p: Promise<T>;
        try {
          p = task();
        } catch (e) {
          p = Promise.reject(e);
        }
        // Release before settling, so that what the caller does next sees the free slot.
        const release = (): void => {
          this.running--;
          this.dumping = false; // only ever set while this task (then the only one) was the dump
          this.admit();
        };
        p.then(
          (v) => {
            release();
            resolve(v);
          },
          (e: unknown) => {
            release();
            reject(e);
          },
        );
      };
      this.waiting.push({ dump, start });
      this.admit();
    });
  }

  private admit(): void {
    while (this.waiting.length > 0 && !this.dumping) {
      const next = this.waiting[0];
      if (next.dump ? this.running > 0 : this.running >= this.maxInFlight) return;
      this.waiting.shift();
      this.running++;
      this.dumping = next.dump;
      next.start();
    }
  }
}
