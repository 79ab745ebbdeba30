import type Koa from 'koa';
import type { AuthenticatedParty, DeferredNonce, PartyRole } from '../domain/access';
import type { Logger } from '../logger';

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
