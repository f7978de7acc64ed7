// The route table: every protocol path, the schema of its body and the driver method it calls.
// One generic handler (server/plugin-server.ts) serves all of them.
import { z } from './zod';
import * as N from './network';
import * as I from './ipam';

export type Subsystem = 'NetworkDriver' | 'IpamDriver' | 'Plugin';

export interface Drivers {
  network: N.NetworkDriver;
  ipam: I.IpamDriver;
}

export interface Route {
  subsystem: Subsystem;
  /** Schema of the body; undefined for calls Docker sends with an empty body. */
  schema?: z.ZodMiniType;
  /** Needs the daemon's state loaded (everything but the handshake calls). */
  needsState: boolean;
  call(d: Drivers, body: unknown): Promise<object>;
}

function route<S extends z.ZodMiniType>(subsystem: Subsystem, schema: S, call: (d: Drivers, req: z.infer<S>) => Promise<object>): Route {
  return { subsystem, schema, needsState: true, call: (d, body) => call(d, body as z.infer<S>) };
}
function bare(subsystem: Subsystem, call: (d: Drivers) => Promise<object>): Route {
  return { subsystem, needsState: false, call: (d) => call(d) };
}

export const IMPLEMENTS = ['NetworkDriver', 'IpamDriver'];

export const ROUTES: Record<string, Route> = {
  '/Plugin.Activate': bare('Plugin', async () => ({ Implements: IMPLEMENTS })),
  '/NetworkDriver.GetCapabilities': bare('NetworkDriver', (d) => d.network.getCapabilities()),
  '/NetworkDriver.GwAllocCheck': route('NetworkDriver', N.GwAllocCheckSchema, (d, r) => d.network.gwAllocCheck(r)),
  '/NetworkDriver.CreateNetwork': route('NetworkDriver', N.CreateNetworkSchema, (d, r) => d.network.createNetwork(r)),
  '/NetworkDriver.DeleteNetwork': route('NetworkDriver', N.NetworkIdSchema, (d, r) => d.network.deleteNetwork(r)),
  '/NetworkDriver.AllocateNetwork': route('NetworkDriver', N.AllocateNetworkSchema, (d, r) => d.network.allocateNetwork(r)),
  '/NetworkDriver.FreeNetwork': route('NetworkDriver', N.NetworkIdSchema, (d, r) => d.network.freeNetwork(r)),
  '/NetworkDriver.CreateEndpoint': route('NetworkDriver', N.CreateEndpointSchema, (d, r) => d.network.createEndpoint(r)),
  '/NetworkDriver.EndpointOperInfo': route('NetworkDriver', N.EndpointIdSchema, (d, r) => d.network.endpointOperInfo(r)),
  '/NetworkDriver.DeleteEndpoint': route('NetworkDriver', N.EndpointIdSchema, (d, r) => d.network.deleteEndpoint(r)),
  '/NetworkDriver.Join': route('NetworkDriver', N.JoinSchema, (d, r) => d.network.join(r)),
  '/NetworkDriver.Leave': route('NetworkDriver', N.EndpointIdSchema, (d, r) => d.network.leave(r)),
  '/NetworkDriver.DiscoverNew': route('NetworkDriver', N.DiscoverySchema, (d, r) => d.network.discoverNew(r)),
  '/NetworkDriver.DiscoverDelete': route('NetworkDriver', N.DiscoverySchema, (d, r) => d.network.discoverDelete(r)),
  '/NetworkDriver.ProgramExternalConnectivity': route('NetworkDriver', N.ProgramExternalConnectivitySchema, (d, r) => d.network.programExternalConnectivity(r)),
  '/NetworkDriver.RevokeExternalConnectivity': route('NetworkDriver', N.EndpointIdSchema, (d, r) => d.network.revokeExternalConnectivity(r)),
  '/IpamDriver.GetCapabilities': bare('IpamDriver', (d) => d.ipam.getCapabilities()),
  '/IpamDriver.GetDefaultAddressSpaces': bare('IpamDriver', (d) => d.ipam.getDefaultAddressSpaces()),
  '/IpamDriver.RequestPool': route('IpamDriver', I.RequestPoolSchema, (d, r) => d.ipam.requestPool(r)),
  '/IpamDriver.ReleasePool': route('IpamDriver', I.ReleasePoolSchema, (d, r) => d.ipam.releasePool(r)),
  '/IpamDriver.RequestAddress': route('IpamDriver', I.RequestAddressSchema, (d, r) => d.ipam.requestAddress(r)),
  '/IpamDriver.ReleaseAddress': route('IpamDriver', I.ReleaseAddressSchema, (d, r) => d.ipam.releaseAddress(r)),
};

/** Describes a schema failure in terms a user can act on: field path and what was expected. */
export function describeValidationError(err: z.core.$ZodError): string {
  return err.issues
    .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`)
    .join('; ');
}
