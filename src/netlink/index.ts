// Subprocess-free link management: rtnetlink (links, addresses) and ethtool genetlink.
export { LinkManager, encodeVethLinkInfo, formatMac, parseMac } from './links';
export type { LinkInfo, VethPairOptions } from './links';
export {
  EthtoolClient,
  TX_CHECKSUM_FEATURES,
  closeEthtool,
  disableTxChecksum,
  getFeatures,
  setFeatures,
} from './ethtool';
export {
  CONTAINER_VETH_PREFIX,
  HOST_VETH_PREFIX,
  MAX_IFNAME_BYTES,
  assertIfName,
  ifNameProblem,
  isOurVeth,
  vethNames,
} from './names';
export { NetlinkArgumentError, NetlinkError, isErrno } from './request';
