import { randomInt } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { BINARY_COPY_HEADER, BINARY_COPY_TRAILER, BinaryCopyWriter } from '../../src/db/copyBinary';
import { createTestDatabase, TestDatabase } from '../helpers/database';

/**
 * contracts/decisions/0234-statement-lines-copied-in-binary.md: what the binary COPY writer sends
 * is what PostgreSQL's own text input makes of the same values — every numeric, instant, text and
 * integer compared, on the server, with the text form cast to the column's type.
 */
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase(2);
  await database.db.raw(`CREATE TABLE copy_binary_probe (
    id bigint, n integer, amount numeric(18, 2), at timestamptz, label text,
    amount_text text, at_text text)`);
});

afterAll(async () => {
  await database.drop();
});

interface ProbeRow {
  id: number;
  n: number;
  amount: string;
  at: Date;
  label: string | null;
}

/** COPYs the rows through the writer (in small chunks, so that the buffer is taken and reused), with each value's text beside it. */
async function copyProbe(rows: readonly ProbeRow[]): Promise<number> {
  return database.db.transaction(async (trx) => {
    await trx.raw('TRUNCATE copy_binary_probe');
    const connection = (await trx.client.acquireConnection()) as PoolClient;
    const copy = connection.query(copyFrom('COPY copy_binary_probe (id, n, amount, at, label, amount_text, at_text) FROM STDIN (FORMAT binary)'));
    const writer = new BinaryCopyWriter(64);
    async function* chunks(): AsyncGenerator<Buffer> {
      yield BINARY_COPY_HEADER;
      for (const row of rows) {
        writer.row(7);
        writer.int64(row.id);
        writer.int32(row.n);
        writer.numeric(row.amount, 2);
        writer.timestamptz(row.at);
        writer.text(row.label);
        writer.text(row.amount);
        writer.text(row.at.toISOString());
        const taken = writer.take();
        if (taken !== null) yield taken;
      }
      yield BINARY_COPY_TRAILER;
    }
    await pipeline(Readable.from(chunks(), { objectMode: false }), copy);
    return copy.rowCount;
  });
}

function money(): string {
  const kind = randomInt(4);
  const whole = kind === 0 ? '0' : String(randomInt(1, 10 ** randomInt(1, 12)));
  return `${kind === 3 ? '99999999999' : whole}.${String(randomInt(100)).padStart(2, '0')}`;
}

it('sends every money amount, instant, text and integer exactly as PostgreSQL reads their text', async () => {
  const fixed: ProbeRow[] = [
    { id: 1, n: 1, amount: '0.01', at: new Date('2000-01-01T00:00:00.000Z'), label: 'PAY' },
    { id: 2, n: 2_147_483_647, amount: '0.10', at: new Date('1999-12-31T23:59:59.999Z'), label: null },
    { id: 3, n: -2_147_483_648, amount: '10000.00', at: new Date('2026-12-03T02:15:00.000Z'), label: '支付宝 MOBILE' },
    { id: 9_007_199_254_740_991, n: 0, amount: '99999999999.99', at: new Date('1970-01-01T00:00:00.001Z'), label: '' },
    { id: 5, n: 5, amount: '100000000.00', at: new Date('2099-06-30T16:00:00.123Z'), label: 'RECON_X-1' },
    { id: 6, n: 6, amount: '1234.5', at: new Date('2026-02-28T23:59:59.000Z'), label: 'ᠠ᠎ᠡ' },
    { id: 7, n: 7, amount: '0.00', at: new Date('2026-12-03T10:15:00.000+08:00'), label: 'x'.repeat(5000) },
    { id: 8, n: 8, amount: '20000.01', at: new Date('1900-03-01T12:00:00.000Z'), label: 'a\tb\nc\\d' },
    { id: 9, n: 9, amount: '-12.30', at: new Date('2026-12-03T00:00:00.000Z'), label: 'NEGATIVE' },
    // The common money shape's edges (written without the pattern): a fraction only, zero groups
    // in the middle, 12 whole digits (the most it reads so), 13 (the pattern's way again).
    { id: 10, n: 10, amount: '0.05', at: new Date('2026-12-03T00:00:00.000Z'), label: 'ASCII then 中文' },
    { id: 11, n: 11, amount: '10000.00', at: new Date('2026-12-03T00:00:00.000Z'), label: 'ONLINE_BANKING' },
    { id: 12, n: 12, amount: '100000000.01', at: new Date('2026-12-03T00:00:00.000Z'), label: 'Zeros' },
    { id: 13, n: 13, amount: '123456789012.34', at: new Date('2026-12-03T00:00:00.000Z'), label: 'Twelve' },
    { id: 14, n: 14, amount: '1234567890123.45', at: new Date('2026-12-03T00:00:00.000Z'), label: 'Thirteen' },
    { id: 15, n: 15, amount: '9.90', at: new Date('2026-12-03T00:00:00.000Z'), label: '\u007f\u0080' },
  ];
  const random: ProbeRow[] = Array.from({ length: 2000 }, (_, index) => ({
    id: 100 + index,
    n: index,
    amount: money(),
    at: new Date(Date.UTC(2026, 0, 1) + randomInt(0, 2 ** 40) - 2 ** 39),
    label: `T-${index}`,
  }));
  const rows = [...fixed, ...random];
  expect(await copyProbe(rows)).toBe(rows.length);

  const differences = await database.db.raw<{ rows: Array<{ id: string }> }>(
    `SELECT id::text FROM copy_binary_probe
      WHERE amount IS DISTINCT FROM CAST(amount_text AS numeric(18, 2))
         OR amount::text IS DISTINCT FROM CAST(amount_text AS numeric(18, 2))::text
         OR at IS DISTINCT FROM CAST(at_text AS timestamptz)`,
  );
  expect(differences.rows).toEqual([]);
  const read = await database.db.raw<{ rows: Array<{ id: string; n: number; amount: string; label: string | null }> }>(
    'SELECT id::text, n, amount::text, label FROM copy_binary_probe WHERE id < 100 OR id = 9007199254740991 ORDER BY n',
  );
  expect(read.rows.map((row) => [row.id, row.n, row.amount, row.label])).toEqual(
    [...fixed].sort((a, b) => a.n - b.n).map((row) => [String(row.id), row.n, row.amount.split('.')[1]?.length === 1 ? `${row.amount}0` : row.amount, row.label]),
  );
});

it('refuses what it cannot write exactly, before anything is sent', () => {
  const writer = new BinaryCopyWriter();
  expect(() => writer.numeric('1e5', 2)).toThrow(/decimal string/);
  expect(() => writer.numeric('01.00', 2)).toThrow(/decimal string/);
  expect(() => writer.numeric('0x.00', 2)).toThrow(/decimal string/);
  expect(() => writer.numeric('1.2.34', 2)).toThrow(/decimal string/);
  expect(() => writer.numeric('1.005', 2)).toThrow(/fraction digits/);
  expect(() => writer.int64(2 ** 53)).toThrow(/int64/);
  expect(() => writer.int32(2 ** 31)).toThrow(/int32/);
  expect(() => writer.timestamptz(new Date(Number.NaN))).toThrow(/valid instant/);
});
