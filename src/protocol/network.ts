// Docker's remote NetworkDriver protocol, declared once: request schemas (validated at the edge),
// response types, and the interface a driver implements. Wire facts: ../shared/notes/docker-plugin-protocol.md.
import { z } from './zod';
import {
  AddressMaybePrefix, AddressOrEmpty, AddressSpaceField, Cidr, CidrOrEmpty, EndpointIdField, MacOrEmpty, NetworkIdField,
  SandboxKeyField, portField,
} from './fields';

const id = NetworkIdField;
const endpointId = EndpointIdField;
const generic = z.record(z.string(), z.unknown());

export const IPAMDataSchema = z.object({
  AddressSpace: z._default(z.optional(AddressSpaceField), ''),
  Pool: Cidr,
  Gateway: z.optional(AddressMaybePrefix),
  AuxAddresses: z.nullish(z.record(z.string(), AddressMaybePrefix)),
});
export type IPAMData = z.infer<typeof IPAMDataSchema>;

export const CreateNetworkSchema = z.object({
  NetworkID: id,
  Options: z.nullish(generic),
  IPv4Data: z.nullish(z.array(IPAMDataSchema)),
  IPv6Data: z.nullish(z.array(IPAMDataSchema)),
});
export type CreateNetworkRequest = z.infer<typeof CreateNetworkSchema>;

export const AllocateNetworkSchema = z.object({
  NetworkID: id,
  Options: z.nullish(z.record(z.string(), z.string())),
  IPv4Data: z.nullish(z.array(IPAMDataSchema)),
  IPv6Data: z.nullish(z.array(IPAMDataSchema)),
});
export type AllocateNetworkRequest = z.infer<typeof AllocateNetworkSchema>;

export const NetworkIdSchema = z.object({ NetworkID: id });
export type NetworkIdRequest = z.infer<typeof NetworkIdSchema>;

export const EndpointIdSchema = z.object({ NetworkID: id, EndpointID: endpointId });
export type EndpointIdRequest = z.infer<typeof EndpointIdSchema>;

export const EndpointInterfaceSchema = z.object({
  Address: z._default(z.optional(CidrOrEmpty), ''),
  AddressIPv6: z._default(z.optional(CidrOrEmpty), ''),
  MacAddress: z._default(z.optional(MacOrEmpty), ''),
});
export type EndpointInterface = z.infer<typeof EndpointInterfaceSchema>;

export const CreateEndpointSchema = z.object({
  NetworkID: id,
  EndpointID: endpointId,
  Interface: z.nullish(EndpointInterfaceSchema),
  Options: z.nullish(generic),
});
export type CreateEndpointRequest = z.infer<typeof CreateEndpointSchema>;

export const JoinSchema = z.object({
  NetworkID: id,
  EndpointID: endpointId,
  SandboxKey: z._default(z.optional(SandboxKeyField), ''),
  Options: z.nullish(generic),
});
export type JoinRequest = z.infer<typeof JoinSchema>;

export const ProgramExternalConnectivitySchema = z.object({
  NetworkID: id,
  EndpointID: endpointId,
  Options: z.nullish(generic),
});
export type ProgramExternalConnectivityRequest = z.infer<typeof ProgramExternalConnectivitySchema>;

export const DiscoverySchema = z.object({
  DiscoveryType: z.number(),
  DiscoveryData: z.unknown(),
});
export type DiscoveryRequest = z.infer<typeof DiscoverySchema>;

export const GwAllocCheckSchema = z.object({ Options: z.nullish(generic) });
export type GwAllocCheckRequest = z.infer<typeof GwAllocCheckSchema>;

/** One entry of com.docker.network.portmap (Proto is the IP protocol number). */
export const PortBindingSchema = z.object({
  Proto: z.number(),
  IP: z._default(z.optional(AddressOrEmpty), ''),
  Port: portField(false),
  HostIP: z._default(z.optional(AddressOrEmpty), ''),
  HostPort: z._default(z.optional(portField(true)), 0),
  HostPortEnd: z._default(z.optional(portField(true)), 0),
});
export type PortBinding = z.infer<typeof PortBindingSchema>;

export interface CapabilitiesResponse {
  Scope: 'local' | 'global';
  ConnectivityScope: 'local' | 'global';
  GwAllocChecker?: boolean;
}
export interface CreateEndpointResponse {
  Interface?: Partial<EndpointInterface> | null;
}
export interface StaticRoute {
  Destination: string;
  RouteType: 0 | 1;
  NextHop?: string;
}
export interface JoinResponse {
  InterfaceName: { SrcName: string; DstPrefix: string };
  Gateway?: string;
  GatewayIPv6?: string;
  StaticRoutes?: StaticRoute[];
  DisableGatewayService?: boolean;
}
export interface EndpointOperInfoResponse {
  Value: Record<string, unknown>;
}
export interface AllocateNetworkResponse {
  Options?: Record<string, string>;
}
export interface GwAllocCheckResponse {
  SkipIPv4?: boolean;
  SkipIPv6?: boolean;
}
export type Empty = Record<string, never>;

/** Everything a network driver answers, one method per protocol endpoint. */
export interface NetworkDriver {
  getCapabilities(): Promise<CapabilitiesResponse>;
  gwAllocCheck(req: GwAllocCheckRequest): Promise<GwAllocCheckResponse>;
  createNetwork(req: CreateNetworkRequest): Promise<Empty>;
  deleteNetwork(req: NetworkIdRequest): Promise<Empty>;
  allocateNetwork(req: AllocateNetworkRequest): Promise<AllocateNetworkResponse>;
  freeNetwork(req: NetworkIdRequest): Promise<Empty>;
  createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResponse>;
  endpointOperInfo(req: EndpointIdRequest): Promise<EndpointOperInfoResponse>;
  deleteEndpoint(req: EndpointIdRequest): Promise<Empty>;
  join(req: JoinRequest): Promise<JoinResponse>;
  leave(req: EndpointIdRequest): Promise<Empty>;
  discoverNew(req: DiscoveryRequest): Promise<Empty>;
  discoverDelete(req: DiscoveryRequest): Promise<Empty>;
  programExternalConnectivity(req: ProgramExternalConnectivityRequest): Promise<Empty>;
  revokeExternalConnectivity(req: EndpointIdRequest): Promise<Empty>;
}
