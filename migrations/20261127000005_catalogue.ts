import type { Knex } from 'knex';

/**
 * The finance department's catalogue (docs/interface.md §6.1): regions, accounts, sharing rules,
 * items, and which items each unit may charge.
 *
 * References between catalogue rows are by their codes, which never change (they name the
 * resource in its URL), so a reader of any row sees the codes the wire shows without a join.
 * Money is NUMERIC(18,2) (16 integer digits, as the wire allows); a daily late-fee rate is
 * NUMERIC(12,6) and ratios NUMERIC(9,4), the decimals docs/interface.md §1 allows.
 *
 * Notices copy what they need of an item when they are issued, so changing an item never alters
 * a notice. Items also keep an append-only history (`item_versions`), one row per distinct
 * content, so any past notice can be traced to the exact catalogue entry it was priced from.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE regions (
      id          bigserial PRIMARY KEY,
      code        text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{6}$'),
      name        text NOT NULL,
      parent_code text REFERENCES regions (code),
      created_at  timestamptz NOT NULL,
      updated_at  timestamptz NOT NULL,
      CHECK (parent_code IS DISTINCT FROM code)
    );

    -- bank_role is always 'bank': with it, the foreign key proves that bank_code names a
    -- registered bank party (party codes are unique per role, not across roles).
    CREATE TABLE accounts (
      id         bigserial PRIMARY KEY,
      account_no text NOT NULL UNIQUE,
      name       text NOT NULL,
      bank_role  text NOT NULL DEFAULT 'bank' CHECK (bank_role = 'bank'),
      bank_code  text NOT NULL,
      kind       text NOT NULL CHECK (kind IN ('FISCAL', 'TREASURY', 'CLEARING', 'SUSPENSE')),
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      FOREIGN KEY (bank_role, bank_code) REFERENCES parties (role, code)
    );

    CREATE TABLE sharing_rules (
      id         bigserial PRIMARY KEY,
      code       text NOT NULL UNIQUE,
      name       text NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    );

    -- The shares in the order finance listed them: the last one takes the rounding remainder
    -- when revenue is split (docs/settlement.md §4), so the order is part of the rule.
    CREATE TABLE sharing_rule_shares (
      sharing_rule_id bigint NOT NULL REFERENCES sharing_rules (id),
      position        smallint NOT NULL CHECK (position >= 0),
      budget_level    smallint NOT NULL CHECK (budget_level BETWEEN 1 AND 5),
      ratio           numeric(9, 4) NOT NULL CHECK (ratio > 0 AND ratio <= 1),
      PRIMARY KEY (sharing_rule_id, position),
      UNIQUE (sharing_rule_id, budget_level)
    );

    CREATE TABLE items (
      id                   bigserial PRIMARY KEY,
      code                 text NOT NULL UNIQUE,
      name                 text NOT NULL,
      income_sort_code     text NOT NULL,
      budget_level         smallint NOT NULL CHECK (budget_level BETWEEN 0 AND 5),
      sharing_rule_code    text REFERENCES sharing_rules (code),
      receiving_account_no text NOT NULL REFERENCES accounts (account_no),
      pricing_type         text NOT NULL CHECK (pricing_type IN ('FIXED', 'RANGE')),
      fixed_amount         numeric(18, 2) CHECK (fixed_amount >= 0),
      min_amount           numeric(18, 2) CHECK (min_amount >= 0),
      max_amount           numeric(18, 2) CHECK (max_amount >= 0),
      late_fee_type        text NOT NULL CHECK (late_fee_type IN ('NONE', 'DAILY_RATE')),
      rate_per_day         numeric(12, 6) CHECK (rate_per_day >= 0),
      cap_ratio            numeric(9, 4) CHECK (cap_ratio >= 0),
      status               text NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
      -- 1 at creation, +1 for every change of content; the matching item_versions row holds it.
      version              integer NOT NULL CHECK (version >= 1),
      created_at           timestamptz NOT NULL,
      updated_at           timestamptz NOT NULL,
      CHECK ((budget_level = 0) = (sharing_rule_code IS NOT NULL)),
      CHECK (
        (pricing_type = 'FIXED' AND fixed_amount IS NOT NULL AND min_amount IS NULL AND max_amount IS NULL)
        OR (pricing_type = 'RANGE' AND fixed_amount IS NULL AND min_amount IS NOT NULL AND max_amount IS NOT NULL AND min_amount <= max_amount)
      ),
      CHECK (
        (late_fee_type = 'NONE' AND rate_per_day IS NULL AND cap_ratio IS NULL)
        OR (late_fee_type = 'DAILY_RATE' AND rate_per_day IS NOT NULL AND cap_ratio IS NOT NULL)
      )
    );

    -- Append-only: a row is inserted for each version of an item and never changed.
    CREATE TABLE item_versions (
      id          bigserial PRIMARY KEY,
      item_id     bigint NOT NULL REFERENCES items (id),
      version     integer NOT NULL CHECK (version >= 1),
      content     jsonb NOT NULL,
      recorded_at timestamptz NOT NULL,
      UNIQUE (item_id, version)
    );

    -- Which items a unit may put on its notices (ITEM_NOT_AUTHORIZED otherwise).
    CREATE TABLE unit_items (
      unit_party_id bigint NOT NULL REFERENCES parties (id),
      item_code     text NOT NULL REFERENCES items (code),
      granted_at    timestamptz NOT NULL,
      PRIMARY KEY (unit_party_id, item_code)
    );
    CREATE INDEX unit_items_item_code ON unit_items (item_code);
    CREATE INDEX items_receiving_account_no ON items (receiving_account_no);
    CREATE INDEX items_sharing_rule_code ON items (sharing_rule_code);
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
