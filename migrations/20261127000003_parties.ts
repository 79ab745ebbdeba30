import type { Knex } from 'knex';

/**
 * The four kinds of party (finance, unit, agency, bank) and their public keys (docs/interface.md §2,
 * §6.1). A party is registered once per (role, code); its appId is chosen by the platform.
 * Several keys may be active at once so a party can rotate without downtime.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE parties (
      id                  bigserial PRIMARY KEY,
      app_id              text NOT NULL UNIQUE,
      role                text NOT NULL CHECK (role IN ('finance', 'unit', 'agency', 'bank')),
      code                text NOT NULL,
      name                text NOT NULL,
      status              text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED')),
      region_code         text,
      callback_url        text,
      clearing_account_no text,
      cutoff_time         text,
      -- SHA-256 of the canonical JSON of the registering request: a repeat with the same
      -- content replays, another is IDEMPOTENCY_CONFLICT (docs/interface.md §4).
      request_hash        text NOT NULL,
      created_at          timestamptz NOT NULL,
      updated_at          timestamptz NOT NULL,
      UNIQUE (role, code),
      CHECK (role <> 'unit' OR region_code IS NOT NULL),
      CHECK (role <> 'agency' OR (clearing_account_no IS NOT NULL AND cutoff_time IS NOT NULL))
    );

    CREATE TABLE party_keys (
      id             bigserial PRIMARY KEY,
      party_id       bigint NOT NULL REFERENCES parties (id),
      key_id         text NOT NULL,
      algorithm      text NOT NULL CHECK (algorithm IN ('SM2', 'RSA')),
      public_key_pem text NOT NULL,
      status         text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'RETIRED')),
      created_at     timestamptz NOT NULL,
      retired_at     timestamptz,
      UNIQUE (party_id, key_id)
    );
    CREATE INDEX party_keys_active ON party_keys (party_id) WHERE status = 'ACTIVE';

    -- Nonces of verified requests, refused for 15 minutes (docs/interface.md §2); purged hourly.
    CREATE TABLE request_nonces (
      app_id  text NOT NULL,
      nonce   text NOT NULL,
      seen_at timestamptz NOT NULL,
      PRIMARY KEY (app_id, nonce)
    );
    CREATE INDEX request_nonces_seen_at ON request_nonces (seen_at);
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
