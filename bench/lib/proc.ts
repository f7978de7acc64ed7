// Process resources from /proc: resident memory and CPU time (utime + stime).
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck: number | undefined;
export function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** VmRSS in MB (MiB), or NaN if the process is gone. */
export function rssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** PIDs of the system Open vSwitch daemons (from their pidfiles; other OVS instances may run in namespaces). */
export function systemOvsPids(): { vswitchd?: number; ovsdb?: number } {
  const read = (f: string) => {
    try {
      return Number(fs.readFileSync(`/var/run/openvswitch/${f}.pid`, 'utf8').trim()) || undefined;
    } catch {
      return undefined;
    }
  };
  return { vswitchd: read('ovs-vswitchd'), ovsdb: read('ovsdb-server') };
}

/** utime + stime of the process in clock ticks (fields 14 and 15 of /proc/<pid>/stat); NaN if it is gone. */
export function cpuTicks(pid: number): number {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return NaN;
  }
  // comm (field 2) may hold spaces and parentheses: count fields after the last ')'
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): utime is field 14 -> rest[11], stime field 15 -> rest[12]
  return Number(rest[11]) + Number(rest[12]);
}

/** Samples CPU of several processes over the same window: % of one core each. */
export async function cpuPercentOver(pids: number[], windowMs: number): Promise<number[]> {
  const t0 = process.hrtime.bigint();
  const before = pids.map(cpuTicks);
  await new Promise((r) => setTimeout(r, windowMs));
  const after = pids.map(cpuTicks);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return pids.map((_, i) => ((after[i] - before[i]) / clockTicks() / secs) * 100);
}
