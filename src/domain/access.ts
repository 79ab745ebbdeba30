/**
 * The access vocabulary (docs/interface.md §2): who may call, the caller once verified, the
 * request as it is offered for verification and the nonce it spends. It belongs to no transport:
 * the HTTP edge, the services that authenticate and store nonces, and the tests all speak it, so
 * it lives below them all.
 */

/** The roles whose requests are signed; the path prefix `/v1/{role}` names the role (docs/interface.md §2). */
export const PARTY_ROLES = ['finance', 'unit', 'agency', 'bank'] as const;
export type PartyRole = (typeof PARTY_ROLES)[number];

const A_PARTY_OF_ROLE: Readonly<Record<PartyRole, string>> = { finance: 'a finance party', unit: 'a unit', agency: 'an agency', bank: 'a bank' };

/** A party of this role as messages name it ("an agency", not "a agency"); any other text as given. */
export function aPartyOfRole(role: string): string {
  return (PARTY_ROLES as readonly string[]).includes(role) ? A_PARTY_OF_ROLE[role as PartyRole] : `a party of role ${JSON.stringify(role)}`;
}

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
  /** Runs the checks of docs/interface.md §2 in order; throws the first failure's TongfuError. */
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

/** A verified request's nonce, to be stored (docs/interface.md §2, NONCE_REUSED). */
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
