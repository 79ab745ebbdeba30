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
  /**
   * The same checks, except that a nonce which is the only thing left to check is not stored but
   * handed back, for the route to store in its first statement (decision 0009). Every other
   * outcome is as `authenticate`'s: a request that fails a later check has had its nonce stored.
   */
  authenticateDeferringNonce?(request: SignedRequest, role: PartyRole): Promise<{ party: AuthenticatedParty; nonce: NonceClaim | null }>;
  /** Stores a deferred nonce on its own; throws NONCE_REUSED if it was used within the window. */
  claimNonce?(claim: NonceClaim): Promise<void>;
}

/** A verified request's nonce, to be stored (interface.md §2, NONCE_REUSED). */
export interface NonceClaim {
  readonly appId: string;
  readonly nonce: string;
  /** When it was seen, on the real clock. */
  readonly seenAt: Date;
  /** A stored nonce last seen at or before this instant is free again. */
  readonly reusableAtOrBefore: Date;
  /** The request's X-Tongfu-Timestamp (decision 0059: refused before the nonce horizon). */
  readonly signedAt?: Date;
}

/**
 * A nonce the edge has verified but not stored, on a route that stores it in its own first
 * statement. The handler takes it once, and must answer NONCE_REUSED (before anything else) when
 * its statement finds the nonce used. Until it is taken, the edge stores it on its own whenever
 * the request ends otherwise, so a replay is refused whatever it fails on.
 */
export interface DeferredNonce {
  take(): NonceClaim;
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
  /** Set on routes with `storesNonce`: the nonce the handler's first statement must store. */
  nonce?: DeferredNonce;
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
  /**
   * The handler stores the request's nonce in its first statement (`call.nonce`), which saves a
   * round trip and a commit per request on hot routes (decision 0009).
   */
  storesNonce?: boolean;
  handle(call: Call): Promise<Reply>;
}
