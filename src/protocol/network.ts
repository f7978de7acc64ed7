// Docker's remote NetworkDriver protocol, declared once: request schemas (validated at the edge),
// response types, and the interface a driver implements. Wire facts: ../shared/notes/docker-plugin-protocol.md.
import { z } from 'zod';
import {
  AddressMaybePrefix, AddressOrEmpty, AddressSpaceField, Cidr, CidrOrEmpty, EndpointIdField, MacOrEmpty, NetworkIdField,
  SandboxKeyField, portField,
} from './fields';

const id = NetworkIdField;
const endpointId = EndpointIdField;
const generic = z.record(z.string(), z.unknown());

export const IPAMDataSchema = z.object({
  AddressSpace: AddressSpaceField.optional().default(''),
  Pool: Cidr,
  Gateway: AddressMaybePrefix.optional(),
  AuxAddresses: z.record(z.string(), AddressMaybePrefix).nullish(),
});
export type IPAMData = z.infer<typeof IPAMDataSchema>;

export const CreateNetworkSchema = z.object({
  NetworkID: id,
  Options: generic.nullish(),
  IPv4Data: z.array(IPAMDataSchema).nullish(),
  IPv6Data: z.array(IPAMDataSchema).nullish(),
});
export type CreateNetworkRequest = z.infer<typeof CreateNetworkSchema>;

export const AllocateNetworkSchema = z.object({
  NetworkID: id,
  Options: z.record(z.string(), z.string()).nullish(),
  IPv4Data: z.array(IPAMDataSchema).nullish(),
  IPv6Data: z.array(IPAMDataSchema).nullish(),
});
export type AllocateNetworkRequest = z.infer<typeof AllocateNetworkSchema>;

export const NetworkIdSchema = z.object({ NetworkID: id });
export type NetworkIdRequest = z.infer<typeof NetworkIdSchema>;

export const EndpointIdSchema = z.object({ NetworkID: id, EndpointID: endpointId });
export type EndpointIdRequest = z.infer<typeof EndpointIdSchema>;

export const EndpointInterfaceSchema = z.object({
  Address: CidrOrEmpty.optional().default(''),
  AddressIPv6: CidrOrEmpty.optional().default(''),
  MacAddress: MacOrEmpty.optional().default(''),
});
export type EndpointInterface = z.infer<typeof EndpointInterfaceSchema>;

export const CreateEndpointSchema = z.object({
  NetworkID: id,
  EndpointID: endpointId,
  Interface: EndpointInterfaceSchema.nullish(),
  Options: generic.nullish(),
});
export type CreateEndpointRequest = z.infer<typeof CreateEndpointSchema>;

export const JoinSchema = z.object({
  NetworkID: id,
  EndpointID: endpointId,
  SandboxKey: SandboxKeyField.optional().default(''),
  Options: generic.nullish(),
});
export type JoinRequest = z.infer<typeof JoinSchema>;

export const ProgramExternalConnectivitySchema = z.object({
  NetworkID: id,
  EndpointID: endpointId,
  Options: generic.nullish(),
});
export type ProgramExternalConnectivityRequest = z.infer<typeof ProgramExternalConnectivitySchema>;

export const DiscoverySchema = z.object({
  DiscoveryType: z.number(),
  DiscoveryData: z.unknown(),
});
export type DiscoveryRequest = z.infer<typeof DiscoverySchema>;

export const GwAllocCheckSchema = z.object({ Options: generic.nullish() });
export type GwAllocCheckRequest = z.infer<typeof GwAllocCheckSchema>;

/** One entry of com.docker.network.portmap (Proto is the IP protocol number). */
export const PortBindingSchema = z.object({
  Proto: z.number(),
  IP: AddressOrEmpty.optional().default(''),
  Port: portField(false),
  HostIP: AddressOrEmpty.optional().default(''),
  HostPort: portField(true).optional().default(0),
  HostPortEnd: portField(true).optional().default(0),
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
