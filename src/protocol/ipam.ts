// Docker's remote IpamDriver protocol, declared once. Note the error key differs from the
// network protocol ("Error", not "Err"); the server answers errors with both keys.
import { z } from './zod';
import { AddressMaybePrefix, AddressOrEmpty, AddressSpaceField, CidrOrEmpty, PoolIdField } from './fields';

export const RequestPoolSchema = z.object({
  AddressSpace: z._default(z.optional(AddressSpaceField), ''),
  Pool: z._default(z.optional(CidrOrEmpty), ''),
  SubPool: z._default(z.optional(CidrOrEmpty), ''),
  Options: z.nullish(z.record(z.string(), z.string())),
  V6: z._default(z.optional(z.boolean()), false),
});
export type RequestPoolRequest = z.infer<typeof RequestPoolSchema>;

export const ReleasePoolSchema = z.object({ PoolID: PoolIdField });
export type ReleasePoolRequest = z.infer<typeof ReleasePoolSchema>;

export const RequestAddressSchema = z.object({
  PoolID: PoolIdField,
  Address: z._default(z.optional(AddressOrEmpty), ''),
  Options: z.nullish(z.record(z.string(), z.string())),
});
export type RequestAddressRequest = z.infer<typeof RequestAddressSchema>;

export const ReleaseAddressSchema = z.object({
  PoolID: PoolIdField,
  Address: AddressMaybePrefix.check(z.refine((v) => v !== '', { error: 'an address is required' })),
});
export type ReleaseAddressRequest = z.infer<typeof ReleaseAddressSchema>;

export interface IpamCapabilitiesResponse {
  RequiresMACAddress: boolean;
  RequiresRequestReplay: boolean;
}
export interface AddressSpacesResponse {
  LocalDefaultAddressSpace: string;
  GlobalDefaultAddressSpace: string;
}
export interface RequestPoolResponse {
  PoolID: string;
  Pool: string;
  Data: Record<string, string>;
}
export interface RequestAddressResponse {
  Address: string;
  Data: Record<string, string>;
}

/** Everything an IPAM driver answers, one method per protocol endpoint. */
export interface IpamDriver {
  getCapabilities(): Promise<IpamCapabilitiesResponse>;
  getDefaultAddressSpaces(): Promise<AddressSpacesResponse>;
  requestPool(req: RequestPoolRequest): Promise<RequestPoolResponse>;
  releasePool(req: ReleasePoolRequest): Promise<Record<string, never>>;
  requestAddress(req: RequestAddressRequest): Promise<RequestAddressResponse>;
  releaseAddress(req: ReleaseAddressRequest): Promise<Record<string, never>>;
}
