// Entry point of bin/ovs-container-network: dispatches subcommands.
import { daemonHelp, parseDaemonConfig } from './config';
import { errorMessage, InputError } from './util/errors';
import { runDaemon } from './daemon';
import { chassisMain } from './chassis-cli';
import { ctlMain } from './ctl-cli';

const USAGE = `Usage: ovs-container-network <command> [flags]

Commands:
  daemon     serve Docker's NetworkDriver and IpamDriver protocols (see: daemon --help)
  chassis    setup | status: make this host an OVN chassis, or show whether it is bound
  ctl        call the running daemon's control API (networks, endpoints, pools, peers, tunnels, NAT, security groups)
  help       show this help`;

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'daemon': {
        if (rest.includes('--help') || rest.includes('-h')) { console.log(daemonHelp()); return; }
        const config = parseDaemonConfig(rest, process.env);
        await runDaemon(config);
        return;
      }
      case 'chassis':
        await chassisMain(rest, process.env);
        return;
      case 'ctl':
        await ctlMain(rest, process.env);
        return;
      case undefined: case 'help': case '--help': case '-h':
        console.log(USAGE);
        return;
      default:
        throw new InputError(`unknown command "${cmd}"\n${USAGE}`);
    }
  } catch (err) {
    console.error(`ovs-container-network: ${errorMessage(err)}`);
    process.exitCode = err instanceof InputError ? 2 : 1;
  }
}
