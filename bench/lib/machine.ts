// The machine the figures were measured on: CPU, memory, kernel and the versions that matter.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { run } from '../../test/harness/exec';

export interface Machine {
  cpu: string;
  cores: number;
  memGiB: number;
  kernel: string;
  os: string;
  node: string;
  ovs: string;
  ovsDatapath: string;
  dockerd: string;
  iperf3: string;
  loadAvg: number[];
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args, { timeoutMs: 10_000 });
  return (r.stdout || r.stderr).split('\n')[0].trim() || 'unknown';
}

export async function describeMachine(): Promise<Machine> {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const cores = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  const pretty = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(fs.existsSync('/etc/os-release') ? fs.readFileSync('/etc/os-release', 'utf8') : '')?.[1] ?? os.type();
  return {
    cpu: model,
    cores,
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: (await firstLine('uname', ['-srvm'])),
    os: pretty,
    node: process.version,
    ovs: (await firstLine('ovs-vswitchd', ['--version'])).replace(/^ovs-vswitchd \(Open vSwitch\) /, ''),
    ovsDatapath: fs.existsSync('/sys/module/openvswitch') ? 'system (kernel module)' : 'netdev (userspace; no openvswitch kernel module)',
    dockerd: (await firstLine('dockerd', ['--version'])).replace(/^Docker version /, ''),
    iperf3: (await firstLine('iperf3', ['--version'])).replace(/ \(.*$/, ''),
    loadAvg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
