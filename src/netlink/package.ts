// The parts of the netlink package the daemon uses, required from their own files: the package's
// index also loads its nl80211 and WireGuard families (≈ 250 KB of code, ≈ 1 MB of the idle
// daemon's memory; docs/benchmarks.md, "Daemon RSS") that nothing here needs.
export { FlagsGet, FlagsNew, MessageType, Protocol } from 'netlink/dist/constants';
export { createNetlink, NetlinkSocket } from 'netlink/dist/netlink';
export { AttrStream, formatGenlHeader, GENL_HEADER_LENGTH, NetlinkMessage, parseError } from 'netlink/dist/structs';
export { createGenericNetlink, GenericNetlinkSocket } from 'netlink/dist/genl/genl';
export * as genl from 'netlink/dist/genl/structs';
export * as rt from 'netlink/dist/rt/structs';
