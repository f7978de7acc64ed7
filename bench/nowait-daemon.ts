// The product daemon with one change, for measuring what Join's wait costs: Join does not wait for
// ovs-vswitchd to report the port's ofport (src/driver/network-driver.ts waitPortReady). Everything
// else (HTTP stack, OVSDB transactions, netlink) is the product's own code. Bench use only: a
// container attached this way may start before its port forwards.
// Started like the daemon: node nowait-daemon.js daemon --name N ...
import { OvsNetworkDriver } from '../src/driver/network-driver';
import { main } from '../src/cli';

(OvsNetworkDriver.prototype as unknown as { waitPortReady(): Promise<void> }).waitPortReady = async () => undefined;

if (require.main === module) void main(process.argv.slice(2));
