import type Koa from 'koa';
import type { Logger } from '../logger';

/** The roles whose requests are signed; the path prefix `/v1/{role}` names the role (interface.md §2). */
export const PARTY_ROLES = ['finance', 'unit', 'agency', 'bank'] as const;
export type PartyRole = (typeof PARTY_ROLES)[number];

/** The caller, once its signature has verified. */
export interface AuthenticatedParty {
  partyId: string;
  appId: string;
  role: PartyRole;
  code: string;
  name: string;
}

/** What a signed request offers for verification. */
export interface SignedRequest {
  method: string;
  target: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface RequestAuthenticator {
  /** Runs the checks of interface.md §2 in order; throws the first failure's TongfuError. */
  authenticate(request: SignedRequest, role: PartyRole): Promise<AuthenticatedParty>;
}

/** One call as a route handler sees it: validated input and the caller. */
export interface Call<Body = unknown, Query = Record<string, unknown>> {
  body: Body;
  query: Query;
  params: Record<string, string>;
  party: AuthenticatedParty | undefined;
  rawBody: Buffer;
  requestId: string;
  log: Logger;
  /** The client's address, for public rate limits. */
  clientAddress: string;
  koa: Koa.Context;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Access = PartyRole | 'public';

export interface RouteDefinition {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Koa router syntax: `/v1/finance/regions/:regionCode`. */
  path: string;
  /** The operation in contracts/ that validates this route's input. */
  operationId: string;
  access: Access;
  /** `json` parses and validates a JSON body; `none` ignores it (still signed); `raw` hands over the bytes. */
  body: 'json' | 'none' | 'raw';
  /** Content types a `raw` body accepts. */
  rawContentTypes?: string[];
  /** Largest body accepted, in bytes (default 1 MiB). */
  bodyLimitBytes?: number;
  handle(call: Call): Promise<Reply>;
}
