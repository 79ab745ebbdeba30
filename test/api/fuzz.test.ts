import type { Db } from '../../src/db/database';
import { ERROR_CODES, type ErrorCode } from '../../src/domain/errors';
import { Contract } from '../../src/http/contract';
import { ERROR_STATUS } from '../../src/http/errorStatus';
import { buildWorld, ITEMS, registerParty, REGION, signedAs, World } from '../helpers/builders';
import { badCheckDigits, expectLedgerVerified, issueNotice, shanghai } from '../helpers/payments';
import { PartyCredentials, signedRequest } from '../helpers/signedClient';
import { startTestService, TestResponse, TestService } from '../helpers/testService';

/**
 * Bad input does no harm (the quality requirement "bad input"): a deterministic corpus of
 * thousands of malformed requests — broken JSON, wrong types, huge bodies, bad UTF-8, amounts as
 * numbers or with a sign, an exponent or the wrong decimals, pay codes with bad check digits, SQL
 * and path metacharacters in constrained fields, path segments and query parameters — sent
 * correctly signed to every write endpoint and to the reads that take parameters. Every answer is
 * a 4xx carrying a catalogue code whose status is the HTTP status (never a 5xx, never a 401: the
 * signatures are right), is checked against contracts/, and afterwards every table holds exactly
 * the rows it held before and the ledger verifies.
 *
 * Each case starts from a seed that is a valid request and breaks one thing about it, so the
 * mutation is what makes it invalid; a case the service accepts is a finding, not noise.
 */

const NOW = new Date(shanghai('2026-11-20T09:00:00'));
const IN_FLIGHT = 8;
const MINIMUM_CORPUS = 3000;
const MIB = 1024 * 1024;

/** SM2 public keys (uncompressed points) no party holds, for registrations and added keys. */
const FRESH_KEY_A = '042209c624a9a696e7a8519cf4f427fafd99c3805da3af34cc56b0607c9439acc3ff356242c7174b9da80f70e84789535df79842dea270c096fda4a933770a5772';
const FRESH_KEY_B = '041592adb84f9b6a3623301549354d465e7f04dc4f8c3b5213b3aac429397b16fd5706c67078f7f98ead06b09bf08dc4e60c79b343370c0177166c369be3bdfac7';
const PAYER_NAME = '乌力吉·巴特尔';
/** A receipt number and check code of valid shape that no receipt has. */
const RECEIPT_NO = '150401260000000001';
const CHECK_CODE = 'ABC123';

/** Written by design on a refused request: each signed request stores its nonce; public lookups count attempts. */
const TABLES_WRITTEN_BY_DESIGN = ['request_nonces', 'public_lookup_counters', 'knex_migrations', 'knex_migrations_lock'];

// ---- the corpus's vocabulary -------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
type PathKey = string | number;

const FAMILIES = [
  'requiredFieldRemoved',
  'wrongType',
  'hugeString',
  'amount',
  'payCode',
  'metacharacters',
  'dateOrInstant',
  'enum',
  'fieldRule',
  'unknownField',
  'freeText',
  'duplicateKey',
  'brokenJson',
  'badUtf8',
  'nonObjectBody',
  'hugeBody',
  'deepNesting',
  'unsupportedMediaType',
  'badPathParameter',
  'badQueryParameter',
  'forgedCursor',
] as const;
type Family = (typeof FAMILIES)[number];

/**
 * The code each family must answer, by docs/interface.md §3's precedence (415 → 413 → signature →
 * MALFORMED_JSON → AMOUNT_INVALID → PAY_CODE_INVALID → VALIDATION_FAILED); unset where the broken
 * field decides (a wrong type is AMOUNT_INVALID on an amount, VALIDATION_FAILED elsewhere) or a
 * rule beyond the schema may answer another 4xx.
 */
const EXPECTED_CODE: Record<Family, ErrorCode | undefined> = {
  requiredFieldRemoved: 'VALIDATION_FAILED',
  wrongType: undefined,
  hugeString: undefined,
  amount: 'AMOUNT_INVALID',
  payCode: 'PAY_CODE_INVALID',
  metacharacters: 'VALIDATION_FAILED',
  dateOrInstant: 'VALIDATION_FAILED',
  enum: 'VALIDATION_FAILED',
  fieldRule: undefined,
  unknownField: 'VALIDATION_FAILED',
  freeText: 'VALIDATION_FAILED',
  duplicateKey: 'VALIDATION_FAILED',
  brokenJson: 'MALFORMED_JSON',
  badUtf8: 'MALFORMED_JSON',
  nonObjectBody: 'VALIDATION_FAILED',
  hugeBody: undefined,
  deepNesting: undefined,
  unsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  badPathParameter: 'VALIDATION_FAILED',
  badQueryParameter: 'VALIDATION_FAILED',
  forgedCursor: 'VALIDATION_FAILED',
};

/** Who signs: the party the path prefix names, or nobody for /v1/public. */
type Sender = 'finance' | 'unit' | 'agency' | 'bank' | 'public';

/** What a field holds, which decides the mutations that make it invalid. */
type FieldKind =
  /** a string with an anchored pattern: codes, ids, ratios, id numbers… */
  | 'code'
  | 'money'
  | 'payCode'
  | 'date'
  | 'instant'
  | 'enum'
  | 'integer'
  | 'boolean'
  /** free text (names, remarks): no metacharacters, they would be valid */
  | 'text'
  /** a payer's account: anything but control characters and `|` */
  | 'accountNo'
  | 'url'
  | 'publicKey'
  | 'object'
  | 'array';

interface FieldSpec {
  kind: FieldKind;
  /** Removing it leaves a valid request. */
  optional?: true;
  /** null is a valid value. */
  nullable?: true;
  /** '' is a valid value. */
  emptyAllowed?: true;
  /** Free text that keeps line breaks and `|` (a remark): only controls and lone surrogates break it. */
  multiLine?: true;
  /** Values that break the field's own rule (length, range, blankness, a cross-field rule). */
  invalid?: Json[];
  /** A payCode whose spaces are taken out (a posting's, decision 0197): a space inside is no mutation. */
  spacesTakenOut?: true;
}

/** A valid request that the mutations break one thing at a time. */
interface Seed {
  endpoint: string;
  operationId: string;
  sender: Sender;
  method: 'POST' | 'PUT' | 'PATCH';
  target: string;
  body: JsonObject;
  /** Every field of the body, by JSON pointer. */
  fields: Record<string, FieldSpec>;
}

interface FuzzCase {
  family: Family;
  /** The route template, e.g. `PUT /v1/finance/items/{itemCode}`. */
  endpoint: string;
  mutation: string;
  sender: Sender;
  method: string;
  target: string;
  body?: string | Buffer;
  contentType?: string;
  /** The code the case must answer, where its family does not decide it (EXPECTED_CODE). */
  expectedCode?: ErrorCode;
}

interface Outcome {
  fuzzCase: FuzzCase;
  status: number;
  text: string;
  body: any;
  /** The request failed before an answer, or the answer broke contracts/. */
  failure?: string;
}

// ---- small helpers ----------------------------------------------------------------------------

/** Percent-encodes everything but unreserved characters, so the request line is sent as written. */
function enc(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

function toFullwidth(value: string): string {
  return value.replace(/[!-~]/g, (character) => String.fromCharCode(character.charCodeAt(0) + 0xfee0));
}

function toArabicIndicDigits(value: string): string {
  return value.replace(/[0-9]/g, (digit) => String.fromCharCode(0x0660 + Number(digit)));
}

function swapCase(value: string): string {
  return value === value.toLowerCase() ? value.toUpperCase() : value.toLowerCase();
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function pointer(path: PathKey[]): string {
  return path.map((key) => `/${key}`).join('');
}

function clone<T extends Json>(value: T): T {
  return structuredClone(value);
}

function container(root: Json, path: PathKey[]): Record<PathKey, Json> {
  let node: Json = root;
  for (const key of path.slice(0, -1)) node = (node as Record<PathKey, Json>)[key] as Json;
  return node as Record<PathKey, Json>;
}

function valueAt(root: Json, path: PathKey[]): Json {
  return container(root, path)[path[path.length - 1] as PathKey] as Json;
}

function withValue(root: JsonObject, path: PathKey[], value: Json): JsonObject {
  const copy = clone(root);
  container(copy, path)[path[path.length - 1] as PathKey] = value;
  return copy;
}

function without(root: JsonObject, path: PathKey[]): JsonObject {
  const copy = clone(root);
  const parent = container(copy, path);
  const key = path[path.length - 1] as PathKey;
  if (Array.isArray(parent)) parent.splice(key as number, 1);
  else delete parent[key];
  return copy;
}

/** Every path below the root, parents before their children. */
function fieldPaths(value: Json, prefix: PathKey[] = []): PathKey[][] {
  if (Array.isArray(value)) return value.flatMap((element, index) => [[...prefix, index], ...fieldPaths(element, [...prefix, index])]);
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([key, element]) => [[...prefix, key], ...fieldPaths(element, [...prefix, key])]);
  return [];
}

function objectPaths(body: JsonObject): PathKey[][] {
  return [[], ...fieldPaths(body).filter((path) => { const value = valueAt(body, path); return value !== null && typeof value === 'object' && !Array.isArray(value); })];
}

// ---- mutation families: values that break one field ---------------------------------------------

const AMOUNTS: Array<[string, Json]> = [
  ['a JSON number', 50],
  ['a JSON number with decimals', 50.5],
  ['negative', '-1.00'],
  ['three decimals', '1.000'],
  ['one decimal', '1.0'],
  ['no decimals', '100'],
  ['an exponent', '1e2'],
  ['a leading zero', '01.00'],
  ['a leading space', ' 1.00'],
  ['a trailing space', '1.00 '],
  ['a plus sign', '+1.00'],
  ['NaN', 'NaN'],
  ['Infinity', 'Infinity'],
  ['seventeen integer digits', '12345678901234567.00'],
  ['a decimal comma', '1,00'],
  ['no integer part', '.50'],
  ['fullwidth digits', '１.００'],
  ['a currency sign', '¥1.00'],
  ['hexadecimal', '0x10.00'],
  ['a NUL', '1.00\u0000'],
];

function payCodes(valid: string): Array<[string, string]> {
  const swapAt = [...valid].findIndex((digit, index) => index < valid.length - 1 && digit !== valid[index + 1]);
  const swapped = `${valid.slice(0, swapAt)}${valid[swapAt + 1]}${valid[swapAt]}${valid.slice(swapAt + 2)}`;
  return [
    ['wrong check digits', badCheckDigits(valid)],
    ['neighbouring digits swapped', swapped],
    ['19 digits', valid.slice(0, 19)],
    ['21 digits', `${valid}0`],
    ['64 digits', '1'.repeat(64)],
    ['letters for the check digits', `${valid.slice(0, 18)}AB`],
    ['letters only', 'ABCDEFGHIJKLMNOPQRST'],
    ['SQL', "' OR 1=1 --"],
    ['SQL after a valid code', `${valid}' OR '1'='1`],
    ['path traversal', '../../etc/passwd'],
    ['encoded traversal', '%2e%2e%2f'],
    ['encoded NUL', '%00'],
    ['a NUL inside', `${valid.slice(0, 10)}\u0000${valid.slice(10)}`],
    ['fullwidth digits', toFullwidth(valid)],
    ['Arabic-Indic digits', toArabicIndicDigits(valid)],
    ['a space inside', `${valid.slice(0, 10)} ${valid.slice(10)}`],
    ['negative', `-${valid.slice(1)}`],
    ['an exponent', '1.5e19'],
  ];
}

interface Metacharacter {
  name: string;
  apply(valid: string): string;
  /** A control character or `|`, which even an account number refuses. */
  controlOrPipe?: true;
  /** Cannot be percent-encoded (a lone surrogate): kept out of URLs. */
  notInUrls?: true;
}

const METACHARACTERS: Metacharacter[] = [
  { name: 'SQL quote', apply: (v) => `${v}' OR '1'='1` },
  { name: 'SQL comment', apply: (v) => `${v}'; DROP TABLE notices; --` },
  { name: 'SQL union', apply: (v) => `${v}" UNION SELECT * FROM parties --` },
  { name: 'LIKE wildcard', apply: (v) => `${v}%` },
  { name: 'path traversal', apply: () => '../../etc/passwd' },
  { name: 'encoded traversal', apply: () => '%2e%2e%2f' },
  { name: 'encoded NUL', apply: (v) => `${v}%00` },
  { name: 'backslashes', apply: (v) => `..\\..\\${v}` },
  { name: 'NUL', apply: (v) => `${v}\u0000`, controlOrPipe: true },
  { name: 'bell', apply: (v) => `${v}\u0007`, controlOrPipe: true },
  { name: 'newline', apply: (v) => `${v}\n`, controlOrPipe: true },
  { name: 'terminal escape', apply: (v) => `\u001b[2J${v}`, controlOrPipe: true },
  { name: 'pipe', apply: (v) => `${v}|x`, controlOrPipe: true },
  { name: 'lone high surrogate', apply: (v) => `${v}\ud800`, notInUrls: true },
  { name: 'lone low surrogate', apply: (v) => `\udfff${v}`, notInUrls: true },
  { name: 'leading space', apply: (v) => ` ${v}` },
  { name: 'trailing space', apply: (v) => `${v} ` },
  { name: 'fullwidth', apply: (v) => toFullwidth(v) },
];

/**
 * What breaks any text (contracts/decisions/0050-text-and-json-input.md): U+0000, the other C0
 * controls but TAB/LF/CR, lone surrogates — and, in text that can reach a `|`-separated file,
 * `|`, CR and LF. JSON.stringify writes each as the escape an integrator's encoder would.
 */
const TEXT_BREAKERS: Array<{ name: string; apply(valid: string): string; singleLineOnly?: true }> = [
  { name: 'NUL', apply: (v) => `${v}\u0000` },
  { name: 'NUL first', apply: (v) => `\u0000${v}` },
  { name: 'U+0001', apply: (v) => `${v.slice(0, 1)}\u0001${v.slice(1)}` },
  { name: 'bell', apply: (v) => `${v}\u0007` },
  { name: 'backspace', apply: (v) => `${v}\b` },
  { name: 'vertical tab', apply: (v) => `${v}\u000b` },
  { name: 'form feed', apply: (v) => `${v}\f` },
  { name: 'terminal escape', apply: (v) => `\u001b[2J${v}` },
  { name: 'U+001F', apply: (v) => `${v}\u001f` },
  { name: 'lone high surrogate', apply: (v) => `${v}\ud800` },
  { name: 'lone low surrogate', apply: (v) => `\udfff${v}` },
  { name: 'surrogates reversed', apply: (v) => `${v}\udc00\ud800` },
  { name: 'pipe', apply: (v) => `${v}|x`, singleLineOnly: true },
  { name: 'LF', apply: (v) => `${v}\nx`, singleLineOnly: true },
  { name: 'CR', apply: (v) => `${v}\rx`, singleLineOnly: true },
  { name: 'CRLF', apply: (v) => `${v}\r\n`, singleLineOnly: true },
];

const DATES: Array<[string, string]> = [
  ['30 February', '2026-02-30'],
  ['month 13', '2026-13-01'],
  ['month 0', '2026-00-10'],
  ['31 November', '2026-11-31'],
  ['a word', 'yesterday'],
  ['an instant', '2026-12-10T00:00:00+08:00'],
  ['no dashes', '20261210'],
  ['no zero padding', '2026-1-5'],
  ['day first', '10/12/2026'],
  ['a six-digit year', '+002026-12-10'],
];

const INSTANTS: Array<[string, string]> = [
  ['no offset', '2026-11-20T08:59:30'],
  ['no offset, with a fraction', '2026-11-20T08:59:30.000'],
  ['30 February', '2026-02-30T08:59:30+08:00'],
  ['hour 25', '2026-11-20T25:00:00+08:00'],
  ['offset +25:00', '2026-11-20T08:59:30+25:00'],
  ['a date only', '2026-11-20'],
  ['Unix seconds', '1795136370'],
  ['a word', 'yesterday'],
  ['a six-digit year', '+02026-11-20T08:59:30+08:00'],
];

function enumValues(valid: string): Array<[string, string]> {
  return [
    ['unknown value', 'BOGUS'],
    ['wrong case', swapCase(valid)],
    ['a suffix', `${valid}_X`],
    ['the value in quotes', `"${valid}"`],
  ];
}

function wrongTypes(spec: FieldSpec, original: Json): Array<[string, Json]> {
  const values: Array<[string, Json]> = [];
  if (!spec.nullable) values.push(['null', null]);
  if (spec.kind === 'integer') values.push(['a fraction', 1.5], ['a numeric string', String(original)]);
  else values.push(['a number', 50]);
  if (spec.kind === 'boolean') values.push(['a string', String(original)]);
  else values.push(['a boolean', true]);
  values.push(['an array', [original]], ['an object', {}]);
  if (!spec.emptyAllowed) values.push(['an empty string', '']);
  return values;
}

// ---- seeds: one valid request per shape -------------------------------------------------------

interface Fixtures {
  world: World;
  /** An ISSUED notice to pay and to void. */
  payCode: string;
  voidableCode: string;
  /** A bank registered for this file: PATCH and key targets, and the signer of bank reads. */
  bank: PartyCredentials & { code: string };
}

const freeText = (invalid: Json[] = []): FieldSpec => ({ kind: 'text', invalid });
const DISPLAY_NAME = freeText(['   ', '名'.repeat(201)]);

function seeds({ world, payCode, voidableCode, bank }: Fixtures): Seed[] {
  const callerId = (extra: Json[] = []): FieldSpec => ({ kind: 'code', invalid: ['A'.repeat(65), ...extra] });
  const regionCode = (optional = false): FieldSpec => ({ kind: 'code', invalid: ['15010', '1501020', '15010a'], ...(optional ? { optional: true as const } : {}) });
  const publicKey: FieldSpec = { kind: 'publicKey', invalid: ['not a key', '04abcd', `04${'f'.repeat(128)}`, '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----', 'k'.repeat(16385)] };
  const callbackUrl = (where: 'registration' | 'update'): FieldSpec => ({
    kind: 'url',
    // Optional in a registration; in an update it is the whole body, and null removes it.
    ...(where === 'registration' ? { optional: true as const } : { nullable: true as const }),
    invalid: ['ftp://bank.example.cn/events', 'https://user:secret@bank.example.cn/events', 'https://bank.example.cn/events#fragment', 'not a url', 'javascript:alert(1)', 'https://bank example.cn/', '//bank.example.cn/events', `https://bank.example.cn/${'p'.repeat(2048)}`],
  });
  const ratio = (invalid: Json[]): FieldSpec => ({ kind: 'code', invalid: ['1.5', '0.30000', '-0.3', ...invalid] });
  const budgetLevel = (invalid: Json[]): FieldSpec => ({ kind: 'integer', invalid });

  const payment: Seed = {
    endpoint: 'POST /v1/agency/payments',
    operationId: 'postPayment',
    sender: 'agency',
    method: 'POST',
    target: '/v1/agency/payments',
    body: {
      agencyTxnId: 'FUZZ-TXN-0001',
      payCode,
      amount: '50.00',
      paidAt: shanghai('2026-11-20T08:59:30'),
      channel: 'MOBILE',
      fundsCaptured: false,
      payerAccount: { name: '斯琴·图雅', accountNo: '6222020200112233445', bankName: '内蒙古银行呼和浩特分行' },
    },
    fields: {
      '/agencyTxnId': callerId(),
      '/payCode': { kind: 'payCode', spacesTakenOut: true },
      '/amount': { kind: 'money', invalid: ['0.00', '100000000000.00'] },
      '/paidAt': {
        kind: 'instant',
        invalid: [shanghai('2099-01-01T00:00:00'), shanghai('2026-01-01T00:00:00'), '2026-11-20T15:59:30+14:01', '2026-11-19T10:59:30-14:01', '2026-11-20T08:59:30+23:59', '0001-01-01T00:00:00Z', '1999-12-31T23:59:59+08:00'],
      },
      '/channel': { kind: 'enum' },
      '/fundsCaptured': { kind: 'boolean', optional: true },
      '/payerAccount': { kind: 'object', optional: true },
      '/payerAccount/name': freeText(['n'.repeat(101)]),
      '/payerAccount/accountNo': { kind: 'accountNo', invalid: ['6'.repeat(65)] },
      '/payerAccount/bankName': freeText(['b'.repeat(101)]),
    },
  };

  const notice: Seed = {
    endpoint: 'POST /v1/unit/notices',
    operationId: 'createNotice',
    sender: 'unit',
    method: 'POST',
    target: '/v1/unit/notices',
    body: {
      bizRef: 'FUZZ-NOTICE-0001',
      noticeType: 1,
      payer: { name: PAYER_NAME, idNumber: '150102198506121238', mobile: '13812345678' },
      items: [
        { itemCode: ITEMS.fixedFee, quantity: 2, amount: '100.00' },
        { itemCode: ITEMS.fine, amount: '200.00' },
      ],
      dueDate: '2026-12-10',
      expireDate: '2026-12-31',
      remark: '测试',
    },
    fields: {
      '/bizRef': callerId(),
      '/noticeType': { kind: 'integer', invalid: [0, 3, -1] },
      '/payer': { kind: 'object' },
      '/payer/name': freeText(['   ', '名'.repeat(101)]),
      // The GB 11643 check character, a lower-case x, a birth date that does not exist.
      '/payer/idNumber': { kind: 'code', optional: true, invalid: ['150102198506121237', '15010219850612123x', '150102198502301230', '1501021985061212'] },
      '/payer/mobile': { kind: 'code', optional: true, invalid: ['12812345678', '1381234567', '138123456789'] },
      '/items': { kind: 'array', invalid: [[], Array.from({ length: 51 }, () => ({ itemCode: ITEMS.fixedFee, amount: '50.00' }))] },
      '/items/0': { kind: 'object', optional: true },
      '/items/0/itemCode': callerId(),
      '/items/0/quantity': { kind: 'integer', optional: true, invalid: [0, 10000, -1] },
      '/items/0/amount': { kind: 'money' },
      '/items/1': { kind: 'object', optional: true },
      '/items/1/itemCode': callerId(),
      '/items/1/amount': { kind: 'money' },
      '/dueDate': { kind: 'date' },
      '/expireDate': { kind: 'date', optional: true, invalid: ['2026-12-09'] },
      '/remark': { kind: 'text', optional: true, emptyAllowed: true, multiLine: true, invalid: ['r'.repeat(501)] },
    },
  };

  const voidNotice: Seed = {
    endpoint: 'POST /v1/unit/notices/{payCode}/void',
    operationId: 'voidNotice',
    sender: 'unit',
    method: 'POST',
    target: `/v1/unit/notices/${voidableCode}/void`,
    body: { reason: '开具错误' },
    fields: { '/reason': freeText(['   ', 'r'.repeat(501)]) },
  };

  const region: Seed = {
    endpoint: 'PUT /v1/finance/regions/{regionCode}',
    operationId: 'putRegion',
    sender: 'finance',
    method: 'PUT',
    target: '/v1/finance/regions/150103',
    body: { name: '回民区', parentCode: REGION.city },
    fields: { '/name': DISPLAY_NAME, '/parentCode': regionCode(true) },
  };

  const account: Seed = {
    endpoint: 'PUT /v1/finance/accounts/{accountNo}',
    operationId: 'putAccount',
    sender: 'finance',
    method: 'PUT',
    target: '/v1/finance/accounts/FUZZ_FISCAL_002',
    body: { name: '财政专户二', bankCode: world.bankCode, kind: 'FISCAL' },
    fields: { '/name': DISPLAY_NAME, '/bankCode': callerId(), '/kind': { kind: 'enum' } },
  };

  const sharingRule: Seed = {
    endpoint: 'PUT /v1/finance/sharing-rules/{ruleCode}',
    operationId: 'putSharingRule',
    sender: 'finance',
    method: 'PUT',
    target: '/v1/finance/sharing-rules/FUZZ_SHARE_30_70',
    body: { name: '区市三七分成', shares: [{ budgetLevel: 2, ratio: '0.3' }, { budgetLevel: 3, ratio: '0.7' }] },
    fields: {
      '/name': DISPLAY_NAME,
      '/shares': { kind: 'array', invalid: [[], [1, 2, 3, 4, 5, 1].map((level) => ({ budgetLevel: level, ratio: '0.1' }))] },
      // Without either share the ratios no longer sum to 1.
      '/shares/0': { kind: 'object' },
      '/shares/0/budgetLevel': budgetLevel([0, 6, 3]),
      '/shares/0/ratio': ratio(['0.4']),
      '/shares/1': { kind: 'object' },
      '/shares/1/budgetLevel': budgetLevel([0, 6, 2]),
      '/shares/1/ratio': ratio(['0.6']),
    },
  };

  const itemFields = (shared: boolean): Record<string, FieldSpec> => ({
    '/name': DISPLAY_NAME,
    '/incomeSortCode': { kind: 'code', invalid: ['10', '1030401010'] },
    '/budgetLevel': budgetLevel(shared ? [6, -1, 3] : [6, -1, 0]),
    ...(shared ? { '/sharingRuleCode': callerId() } : {}),
    '/receivingAccountNo': callerId(),
    '/pricing': { kind: 'object' },
    '/pricing/type': { kind: 'enum', invalid: [shared ? 'FIXED' : 'RANGE'] },
    ...(shared ? { '/pricing/min': { kind: 'money' }, '/pricing/max': { kind: 'money', invalid: ['0.50'] } } : { '/pricing/amount': { kind: 'money' } }),
    '/lateFee': { kind: 'object' },
    '/lateFee/type': { kind: 'enum', invalid: [shared ? 'NONE' : 'DAILY_RATE'] },
    ...(shared ? { '/lateFee/ratePerDay': { kind: 'code', invalid: ['0.0000001', '10000'] }, '/lateFee/capRatio': { kind: 'code', invalid: ['1.00001', '10000'] } } : {}),
    '/status': { kind: 'enum' },
  });
  const fixedItem: Seed = {
    endpoint: 'PUT /v1/finance/items/{itemCode}',
    operationId: 'putItem',
    sender: 'finance',
    method: 'PUT',
    target: '/v1/finance/items/FUZZ_FEE_FIXED',
    body: { name: '工本费', incomeSortCode: '1030401', budgetLevel: 3, receivingAccountNo: world.fiscalAccountNo, pricing: { type: 'FIXED', amount: '10.00' }, lateFee: { type: 'NONE' }, status: 'ACTIVE' },
    fields: itemFields(false),
  };
  const sharedItem: Seed = {
    ...fixedItem,
    target: '/v1/finance/items/FUZZ_FEE_SHARED',
    body: {
      name: '分成罚款',
      incomeSortCode: '103050101',
      budgetLevel: 0,
      sharingRuleCode: 'SHARE_40_60',
      receivingAccountNo: world.treasuryAccountNo,
      pricing: { type: 'RANGE', min: '1.00', max: '500.00' },
      lateFee: { type: 'DAILY_RATE', ratePerDay: '0.0005', capRatio: '0.3' },
      status: 'INACTIVE',
    },
    fields: itemFields(true),
  };

  const registration = (body: JsonObject, fields: Record<string, FieldSpec>): Seed => ({
    endpoint: 'POST /v1/finance/parties',
    operationId: 'registerParty',
    sender: 'finance',
    method: 'POST',
    target: '/v1/finance/parties',
    body,
    fields: { '/role': { kind: 'enum' }, '/code': callerId(), '/name': DISPLAY_NAME, '/publicKey': publicKey, ...fields },
  });
  const unitRegistration = registration({ role: 'unit', code: 'FUZZ_UNIT', name: '回民区市场监督管理局', publicKey: FRESH_KEY_A, regionCode: REGION.district }, { '/regionCode': regionCode() });
  const agencyRegistration = registration(
    { role: 'agency', code: 'FUZZ_AGENCY', name: '代收机构', publicKey: FRESH_KEY_A, clearingAccountNo: world.clearingAccountNo, cutoffTime: '22:00' },
    { '/clearingAccountNo': callerId(), '/cutoffTime': { kind: 'code', optional: true, invalid: ['24:30', '2200', '7:00', '23:60', '22:00:00'] } },
  );
  const bankRegistration = registration({ role: 'bank', code: 'FUZZ_BANK_2', name: '农业银行', publicKey: FRESH_KEY_A, callbackUrl: 'https://bank.example.cn/tongfu/events' }, { '/callbackUrl': callbackUrl('registration') });

  const partyUpdate = (body: JsonObject, fields: Record<string, FieldSpec>): Seed => ({
    endpoint: 'PATCH /v1/finance/parties/{appId}',
    operationId: 'updateParty',
    sender: 'finance',
    method: 'PATCH',
    target: `/v1/finance/parties/${bank.appId}`,
    body,
    fields,
  });
  // Either field alone is the whole body, and an empty body is refused (minProperties 1).
  const disableBank = partyUpdate({ status: 'DISABLED' }, { '/status': { kind: 'enum', invalid: ['DELETED'] } });
  const rehookBank = partyUpdate({ callbackUrl: 'https://bank.example.cn/callbacks' }, { '/callbackUrl': callbackUrl('update') });

  const addKey: Seed = {
    endpoint: 'POST /v1/finance/parties/{appId}/keys',
    operationId: 'addPartyKey',
    sender: 'finance',
    method: 'POST',
    target: `/v1/finance/parties/${bank.appId}/keys`,
    body: { publicKey: FRESH_KEY_B },
    fields: { '/publicKey': publicKey },
  };

  const unitItems: Seed = {
    endpoint: 'PUT /v1/finance/units/{unitCode}/items',
    operationId: 'putUnitItems',
    sender: 'finance',
    method: 'PUT',
    target: `/v1/finance/units/${world.unit.code}/items`,
    body: { itemCodes: [ITEMS.fixedFee, ITEMS.fine] },
    fields: {
      '/itemCodes': { kind: 'array', invalid: [[ITEMS.fixedFee, ITEMS.fixedFee], Array.from({ length: 1001 }, (_, index) => `FEE_${index}`)] },
      '/itemCodes/0': { ...callerId(), optional: true },
      '/itemCodes/1': { ...callerId(), optional: true },
    },
  };

  return [payment, notice, voidNotice, region, account, sharingRule, fixedItem, sharedItem, unitRegistration, agencyRegistration, bankRegistration, disableBank, rehookBank, addKey, unitItems];
}

// ---- cases from seeds: one field broken at a time -------------------------------------------------

function bodyCase(seed: Seed, family: Family, mutation: string, body: string | Buffer, extra: Partial<FuzzCase> = {}): FuzzCase {
  return { family, endpoint: seed.endpoint, mutation, sender: seed.sender, method: seed.method, target: seed.target, body, ...extra };
}

function fieldCases(seed: Seed): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (const path of fieldPaths(seed.body)) {
    const where = pointer(path);
    const spec = seed.fields[where];
    if (!spec) throw new Error(`${seed.endpoint}: the seed has no field spec for ${where}`);
    const original = valueAt(seed.body, path);
    const set = (family: Family, mutation: string, value: Json) => cases.push(bodyCase(seed, family, `${where}: ${mutation}`, JSON.stringify(withValue(seed.body, path, value))));
    // Text that is not text is refused with captured funds too: such a posting cannot be understood.
    const setText = (mutation: string, value: string) => {
      set('freeText', mutation, value);
      if (seed.body.fundsCaptured === false) cases.push(bodyCase(seed, 'freeText', `${where}: ${mutation}, funds captured`, JSON.stringify(withValue(withValue(seed.body, path, value), ['fundsCaptured'], true))));
    };

    if (!spec.optional) cases.push(bodyCase(seed, 'requiredFieldRemoved', `${where}: removed`, JSON.stringify(without(seed.body, path))));
    for (const [name, value] of wrongTypes(spec, original)) set('wrongType', name, value);
    set('hugeString', 'a 100,000-character string', 'x'.repeat(100_000));
    for (const value of spec.invalid ?? []) set('fieldRule', `breaks its rule: ${JSON.stringify(value).slice(0, 60)}`, value);

    const originalText = String(original);
    switch (spec.kind) {
      case 'money':
        for (const [name, value] of AMOUNTS) set('amount', name, value);
        break;
      case 'payCode':
        for (const [name, value] of payCodes(originalText)) if (!(spec.spacesTakenOut && name === 'a space inside')) set('payCode', name, value);
        break;
      case 'accountNo':
        for (const meta of METACHARACTERS.filter((m) => m.controlOrPipe)) set('metacharacters', meta.name, meta.apply(originalText));
        for (const breaker of TEXT_BREAKERS) setText(breaker.name, breaker.apply(originalText));
        break;
      case 'text':
        for (const breaker of TEXT_BREAKERS.filter((b) => !b.singleLineOnly || !spec.multiLine)) setText(breaker.name, breaker.apply(originalText));
        break;
      case 'publicKey':
      case 'url':
        for (const breaker of TEXT_BREAKERS.filter((b) => !b.singleLineOnly)) setText(breaker.name, breaker.apply(originalText));
        break;
      case 'code':
      case 'enum':
      case 'date':
      case 'instant':
        for (const meta of METACHARACTERS) set('metacharacters', meta.name, meta.apply(originalText));
        if (spec.kind === 'enum') for (const [name, value] of enumValues(originalText)) set('enum', name, value);
        if (spec.kind === 'date') for (const [name, value] of DATES) set('dateOrInstant', name, value);
        if (spec.kind === 'instant') for (const [name, value] of INSTANTS) set('dateOrInstant', name, value);
        break;
      default:
        break;
    }
  }
  for (const path of objectPaths(seed.body)) {
    const where = pointer(path) || '/';
    const object = path.length === 0 ? seed.body : (valueAt(seed.body, path) as JsonObject);
    const extended = (key: string, value: Json) => (path.length === 0 ? { ...seed.body, [key]: value } : withValue(seed.body, path, { ...object, [key]: value }));
    cases.push(bodyCase(seed, 'unknownField', `${where}: unknown field`, JSON.stringify(extended('unexpected', 'x'))));
    cases.push(bodyCase(seed, 'unknownField', `${where}: a field differing only in case`, JSON.stringify(extended(swapCase(Object.keys(object)[0] ?? 'x'), 'x'))));
    // Every member once more at the end of its object, with the same value (JSON.parse keeps the
    // last silently); at the top also spelled with an escape, and with captured funds.
    const marker = '__FUZZ_DUPLICATE__';
    for (const [key, value] of Object.entries(object)) {
      const duplicated = (spelled: string, captured = false) => {
        const body = extended(marker, value);
        return JSON.stringify(captured ? withValue(body, ['fundsCaptured'], true) : body).replace(`"${marker}"`, spelled);
      };
      cases.push(bodyCase(seed, 'duplicateKey', `${where}: ${key} twice`, duplicated(JSON.stringify(key))));
      if (path.length === 0) {
        const escaped = `"\\u${key.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(key).slice(2)}`;
        cases.push(bodyCase(seed, 'duplicateKey', `${where}: ${key} twice, the second spelled ${escaped}`, duplicated(escaped)));
        if (seed.body.fundsCaptured === false) cases.push(bodyCase(seed, 'duplicateKey', `${where}: ${key} twice, funds captured`, duplicated(JSON.stringify(key), true)));
      }
    }
  }
  const json = JSON.stringify(seed.body);
  cases.push(bodyCase(seed, 'unknownField', '/: __proto__', `{"__proto__":{"polluted":true},${json.slice(1)}`));
  cases.push(bodyCase(seed, 'unknownField', '/: constructor', `{"constructor":{"prototype":{"polluted":true}},${json.slice(1)}`));
  return cases;
}

// ---- cases from seeds: the whole body broken ----------------------------------------------------

/** Where the first string value of a JSON text starts, just after its opening quote. */
function firstStringValue(json: string): number {
  const match = /[:[]"/.exec(json);
  if (!match) throw new Error(`no string value in ${json}`);
  return match.index + 2;
}

/** The JSON text with `bytes` spliced into its first string value. */
function spliceIntoFirstString(json: string, bytes: Buffer): Buffer {
  const at = firstStringValue(json);
  return Buffer.concat([Buffer.from(json.slice(0, at)), bytes, Buffer.from(json.slice(at))]);
}

const BAD_UTF8: Array<[string, number[]]> = [
  ['0xFF', [0xff]],
  ['0xFE', [0xfe]],
  ['a lone continuation byte', [0x80]],
  ['overlong "/" (0xC0 0xAF)', [0xc0, 0xaf]],
  ['a truncated three-byte sequence', [0xe4, 0xb8]],
  ['a UTF-16 surrogate encoded in UTF-8', [0xed, 0xa0, 0x80]],
  ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ['a five-byte sequence', [0xf8, 0x88, 0x80, 0x80, 0x80]],
];

function wholeBodyCases(seed: Seed): FuzzCase[] {
  const json = JSON.stringify(seed.body);
  const cases: FuzzCase[] = [];
  const broken = (mutation: string, body: string | Buffer) => cases.push(bodyCase(seed, 'brokenJson', mutation, body));
  for (const fraction of [0, 0.25, 0.5, 0.75]) broken(`truncated at ${fraction * 100}%`, json.slice(0, Math.max(1, Math.floor(json.length * fraction))));
  broken('truncated before the last brace', json.slice(0, -1));
  broken('trailing garbage', `${json}x`);
  broken('a second document', `${json}{}`);
  broken('a trailing comma', `${json.slice(0, -1)},}`);
  broken('single quotes', json.replace(/"/g, "'"));
  broken('unquoted keys', json.replace(/"(\w+)":/g, '$1:'));
  broken('a comment', `/* fuzz */${json}`);
  broken('a NaN literal', `${json.slice(0, -1)},"n":NaN}`);
  broken('an unescaped control character in a string', spliceIntoFirstString(json, Buffer.from([0x01])));
  broken('an invalid escape', spliceIntoFirstString(json, Buffer.from('\\x41')));
  broken('an unterminated string', json.slice(0, firstStringValue(json) + 2));
  broken('an empty body', '');
  broken('white space only', ' \n\t ');
  broken('encoded as UTF-16', Buffer.from(json, 'utf16le'));

  for (const [name, bytes] of BAD_UTF8) cases.push(bodyCase(seed, 'badUtf8', `${name} inside a string`, spliceIntoFirstString(json, Buffer.from(bytes))));
  cases.push(bodyCase(seed, 'badUtf8', 'a multi-byte character cut at the end of a string', Buffer.concat([Buffer.from(json.slice(0, firstStringValue(json))), Buffer.from([0xe4, 0xb8]), Buffer.from('"}')])));

  for (const [name, body] of [['an array', '[]'], ['null', 'null'], ['a number', '42'], ['a string', '"str"'], ['a boolean', 'true'], ['an empty object', '{}'], ['the body in an array', `[${json}]`]]) {
    cases.push(bodyCase(seed, 'nonObjectBody', name as string, body as string));
  }

  const padded = (bytes: number) => {
    const empty = JSON.stringify({ ...seed.body, padding: '' });
    return JSON.stringify({ ...seed.body, padding: 'x'.repeat(bytes - Buffer.byteLength(empty)) });
  };
  cases.push(bodyCase(seed, 'hugeBody', '2 MiB', padded(2 * MIB), { expectedCode: 'PAYLOAD_TOO_LARGE' }));
  cases.push(bodyCase(seed, 'hugeBody', '1 MiB and one byte', padded(MIB + 1), { expectedCode: 'PAYLOAD_TOO_LARGE' }));
  cases.push(bodyCase(seed, 'hugeBody', 'exactly 1 MiB (an unknown padding field)', padded(MIB), { expectedCode: 'VALIDATION_FAILED' }));

  const depth = 10_000;
  const nestedArrays = `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const firstKey = Object.keys(seed.body)[0] as string;
  cases.push(bodyCase(seed, 'deepNesting', '10,000 nested arrays as the body', nestedArrays));
  cases.push(bodyCase(seed, 'deepNesting', `10,000 nested arrays in /${firstKey}`, JSON.stringify(withValue(seed.body, [firstKey], '__DEEP__')).replace('"__DEEP__"', nestedArrays)));
  cases.push(bodyCase(seed, 'deepNesting', '10,000 nested objects as the body', `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`));
  // An escape makes the body's strings be walked for control characters: as deep as it nests.
  cases.push(bodyCase(seed, 'deepNesting', `10,000 nested arrays around an escaped string in /${firstKey}`, JSON.stringify(withValue(seed.body, [firstKey], '__DEEP__')).replace('"__DEEP__"', `${'['.repeat(depth)}"\\n"${']'.repeat(depth)}`)));

  for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=fuzz', 'application/xml', 'text/json', 'application/merge-patch+json', 'application/jsonx']) {
    cases.push(bodyCase(seed, 'unsupportedMediaType', `Content-Type ${contentType}`, json, { contentType }));
  }
  cases.push(bodyCase(seed, 'unsupportedMediaType', 'Content-Type text/plain with 2 MiB (415 comes before 413)', padded(2 * MIB), { contentType: 'text/plain' }));
  return cases;
}

// ---- cases in the URL: path segments and query parameters ----------------------------------------

/** Path segments, already percent-encoded, that break an identifier's pattern. */
function badIdentifierSegments(valid: string): Array<[string, string]> {
  return [
    ...METACHARACTERS.filter((meta) => !meta.notInUrls).map((meta): [string, string] => [meta.name, enc(meta.apply(valid))]),
    ['65 characters', 'A'.repeat(65)],
    ['raw encoded traversal', '..%2f..%2fetc%2fpasswd'],
    ['raw encoded NUL', `${valid}%00`],
    ['raw bad UTF-8', `${valid}%FF`],
    ['raw overlong UTF-8', `${valid}%C0%AF`],
    ['raw lone surrogate', `${valid}%ED%A0%80`],
    ['malformed percent escape', `${valid}%G1`],
  ];
}

function badPayCodeSegments(valid: string): Array<[string, string]> {
  return [
    ...payCodes(valid).map(([name, value]): [string, string] => [name, enc(value)]),
    ['raw encoded traversal', '%2e%2e%2f'],
    ['raw encoded NUL', `${valid}%00`],
    ['raw bad UTF-8', `${valid.slice(0, 19)}%FF`],
    ['raw lone surrogate', `${valid}%ED%A0%80`],
  ];
}

interface PathParameterTarget {
  endpoint: string;
  sender: Sender;
  method: string;
  parameter: 'payCode' | 'identifier' | 'regionCode' | 'receiptNo';
  valid: string;
  target(segment: string): string;
  body?: JsonObject;
}

function pathParameterCases(targets: PathParameterTarget[]): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (const t of targets) {
    let segments: Array<[string, string]>;
    if (t.parameter === 'payCode') segments = badPayCodeSegments(t.valid);
    else if (t.parameter === 'regionCode') segments = [...badIdentifierSegments(t.valid), ['5 digits', '15010'], ['7 digits', '1501020'], ['a letter', '15010a'], ['negative', '-15010'], ['fullwidth digits', enc(toFullwidth(t.valid))]];
    else if (t.parameter === 'receiptNo') segments = [...badIdentifierSegments(t.valid), ['17 digits', t.valid.slice(0, 17)], ['19 digits', `${t.valid}0`], ['letters', `${t.valid.slice(0, 16)}AB`]];
    else segments = badIdentifierSegments(t.valid);
    for (const [name, segment] of segments) {
      cases.push({
        family: t.parameter === 'payCode' ? 'payCode' : 'badPathParameter',
        endpoint: t.endpoint,
        mutation: `path ${t.parameter}: ${name}`,
        sender: t.sender,
        method: t.method,
        target: t.target(segment),
        ...(t.body ? { body: JSON.stringify(t.body) } : {}),
      });
    }
  }
  return cases;
}

interface QueryTarget {
  endpoint: string;
  sender: Sender;
  path: string;
  /** Query parameters that stay valid while one other is broken. */
  base?: string;
  queries: Array<[string, string]>;
}

const LIMIT_QUERIES: Array<[string, string]> = [
  ['limit -1', 'limit=-1'],
  ['limit 0', 'limit=0'],
  ['limit 501', 'limit=501'],
  ['limit abc', 'limit=abc'],
  ['limit 1.5', 'limit=1.5'],
  ['limit empty', 'limit='],
  ['limit twice', 'limit=10&limit=20'],
  ['limit with SQL', `limit=${enc('1; DROP TABLE parties')}`],
  ['limit NUL', 'limit=%00'],
  ['limit 2^64', 'limit=18446744073709551616'],
];

const UNKNOWN_QUERIES: Array<[string, string]> = [
  ['an unknown parameter', 'foo=bar'],
  ['a parameter differing only in case', 'LIMIT=5'],
  ['an array-style parameter', `${enc('limit[]')}=5`],
  ['an unknown parameter with SQL', `${enc("x' OR '1'='1")}=1`],
  ['a parameter named __proto__', '__proto__=x'],
  ['a parameter named __proto__, twice', '__proto__=a&__proto__=b'],
];

/** Cursors this service never issued (pagination.ts: base64url of "c1." and a row id). */
const FORGED_CURSORS: Array<[string, string]> = [
  ['punctuation', enc('!!!')],
  ['empty', ''],
  ['201 characters', 'a'.repeat(201)],
  ['not base64 of a cursor', 'abc'],
  ['padded base64', 'YzEuMQ=='],
  ['no row id', base64url('c1.')],
  ['a negative row id', base64url('c1.-1')],
  ['SQL as the row id', base64url("c1.1' OR '1'='1")],
  ['another version', base64url('c2.1')],
  ['20 digits', base64url(`c1.${'1'.repeat(20)}`)],
  ['a row id beyond bigint (19 nines)', base64url(`c1.${'9'.repeat(19)}`)],
  ['a row id of 2^63', base64url('c1.9223372036854775808')],
];

function queryCases(targets: QueryTarget[]): FuzzCase[] {
  return targets.flatMap((t) =>
    t.queries.map(([name, query]): FuzzCase => ({
      family: query.startsWith('cursor=') ? 'forgedCursor' : 'badQueryParameter',
      endpoint: t.endpoint,
      mutation: `query: ${name}`,
      sender: t.sender,
      method: 'GET',
      target: `${t.path}?${t.base ? `${t.base}&` : ''}${query}`,
    })),
  );
}

function urlCases({ world, payCode, bank }: Fixtures): FuzzCase[] {
  const unitCode = world.unit.code;
  const payerQuery = `payerName=${enc(PAYER_NAME)}`;
  const paths: PathParameterTarget[] = [
    { endpoint: 'GET /v1/agency/notices/{payCode}', sender: 'agency', method: 'GET', parameter: 'payCode', valid: payCode, target: (s) => `/v1/agency/notices/${s}?${payerQuery}` },
    { endpoint: 'GET /v1/unit/notices/{payCode}', sender: 'unit', method: 'GET', parameter: 'payCode', valid: payCode, target: (s) => `/v1/unit/notices/${s}` },
    { endpoint: 'GET /v1/unit/receipts/{payCode}', sender: 'unit', method: 'GET', parameter: 'payCode', valid: payCode, target: (s) => `/v1/unit/receipts/${s}` },
    { endpoint: 'POST /v1/unit/notices/{payCode}/void', sender: 'unit', method: 'POST', parameter: 'payCode', valid: payCode, target: (s) => `/v1/unit/notices/${s}/void`, body: { reason: '开具错误' } },
    { endpoint: 'GET /v1/public/notices/{payCode}', sender: 'public', method: 'GET', parameter: 'payCode', valid: payCode, target: (s) => `/v1/public/notices/${s}?${payerQuery}` },
    { endpoint: 'GET /v1/public/receipts/{receiptNo}', sender: 'public', method: 'GET', parameter: 'receiptNo', valid: RECEIPT_NO, target: (s) => `/v1/public/receipts/${s}?checkCode=${CHECK_CODE}` },
    { endpoint: 'GET /v1/agency/payments/{agencyTxnId}', sender: 'agency', method: 'GET', parameter: 'identifier', valid: 'FUZZ-TXN-0001', target: (s) => `/v1/agency/payments/${s}` },
    { endpoint: 'GET /v1/finance/regions/{regionCode}', sender: 'finance', method: 'GET', parameter: 'regionCode', valid: REGION.city, target: (s) => `/v1/finance/regions/${s}` },
    { endpoint: 'PUT /v1/finance/regions/{regionCode}', sender: 'finance', method: 'PUT', parameter: 'regionCode', valid: '150103', target: (s) => `/v1/finance/regions/${s}`, body: { name: '回民区', parentCode: REGION.city } },
    { endpoint: 'GET /v1/finance/accounts/{accountNo}', sender: 'finance', method: 'GET', parameter: 'identifier', valid: world.fiscalAccountNo, target: (s) => `/v1/finance/accounts/${s}` },
    { endpoint: 'PUT /v1/finance/accounts/{accountNo}', sender: 'finance', method: 'PUT', parameter: 'identifier', valid: 'FUZZ_FISCAL_002', target: (s) => `/v1/finance/accounts/${s}`, body: { name: '财政专户二', bankCode: world.bankCode, kind: 'FISCAL' } },
    { endpoint: 'GET /v1/finance/sharing-rules/{ruleCode}', sender: 'finance', method: 'GET', parameter: 'identifier', valid: 'SHARE_40_60', target: (s) => `/v1/finance/sharing-rules/${s}` },
    {
      endpoint: 'PUT /v1/finance/sharing-rules/{ruleCode}',
      sender: 'finance',
      method: 'PUT',
      parameter: 'identifier',
      valid: 'FUZZ_SHARE_30_70',
      target: (s) => `/v1/finance/sharing-rules/${s}`,
      body: { name: '区市三七分成', shares: [{ budgetLevel: 2, ratio: '0.3' }, { budgetLevel: 3, ratio: '0.7' }] },
    },
    { endpoint: 'GET /v1/finance/items/{itemCode}', sender: 'finance', method: 'GET', parameter: 'identifier', valid: ITEMS.fixedFee, target: (s) => `/v1/finance/items/${s}` },
    {
      endpoint: 'PUT /v1/finance/items/{itemCode}',
      sender: 'finance',
      method: 'PUT',
      parameter: 'identifier',
      valid: 'FUZZ_FEE_FIXED',
      target: (s) => `/v1/finance/items/${s}`,
      body: { name: '工本费', incomeSortCode: '1030401', budgetLevel: 3, receivingAccountNo: world.fiscalAccountNo, pricing: { type: 'FIXED', amount: '10.00' }, lateFee: { type: 'NONE' }, status: 'ACTIVE' },
    },
    { endpoint: 'GET /v1/finance/parties/{appId}', sender: 'finance', method: 'GET', parameter: 'identifier', valid: bank.appId, target: (s) => `/v1/finance/parties/${s}` },
    { endpoint: 'PATCH /v1/finance/parties/{appId}', sender: 'finance', method: 'PATCH', parameter: 'identifier', valid: bank.appId, target: (s) => `/v1/finance/parties/${s}`, body: { status: 'DISABLED' } },
    { endpoint: 'POST /v1/finance/parties/{appId}/keys', sender: 'finance', method: 'POST', parameter: 'identifier', valid: bank.appId, target: (s) => `/v1/finance/parties/${s}/keys`, body: { publicKey: FRESH_KEY_B } },
    { endpoint: 'DELETE /v1/finance/parties/{appId}/keys/{keyId}', sender: 'finance', method: 'DELETE', parameter: 'identifier', valid: bank.appId, target: (s) => `/v1/finance/parties/${s}/keys/${bank.keyId as string}` },
    { endpoint: 'DELETE /v1/finance/parties/{appId}/keys/{keyId}', sender: 'finance', method: 'DELETE', parameter: 'identifier', valid: bank.keyId as string, target: (s) => `/v1/finance/parties/${bank.appId}/keys/${s}` },
    { endpoint: 'GET /v1/finance/units/{unitCode}/items', sender: 'finance', method: 'GET', parameter: 'identifier', valid: unitCode, target: (s) => `/v1/finance/units/${s}/items` },
    { endpoint: 'PUT /v1/finance/units/{unitCode}/items', sender: 'finance', method: 'PUT', parameter: 'identifier', valid: unitCode, target: (s) => `/v1/finance/units/${s}/items`, body: { itemCodes: [ITEMS.fixedFee, ITEMS.fine] } },
    { endpoint: 'POST /v1/finance/events/{eventId}/redeliver', sender: 'finance', method: 'POST', parameter: 'identifier', valid: 'EFUZZ0000000001', target: (s) => `/v1/finance/events/${s}/redeliver` },
  ];

  const pagination = [...LIMIT_QUERIES, ...FORGED_CURSORS.map(([name, cursor]): [string, string] => [`cursor ${name}`, `cursor=${cursor}`]), ...UNKNOWN_QUERIES];
  const list = (path: string, sender: Sender, own: Array<[string, string]> = []): QueryTarget => ({ endpoint: `GET ${path}`, sender, path, queries: [...pagination, ...own] });
  const events = (role: Exclude<Sender, 'public'>): QueryTarget => ({
    endpoint: `GET /v1/${role}/events`,
    sender: role,
    path: `/v1/${role}/events`,
    queries: [...LIMIT_QUERIES, ...UNKNOWN_QUERIES, ['after -1', 'after=-1'], ['after abc', 'after=abc'], ['after 1.5', 'after=1.5'], ['after beyond 2^53', 'after=9007199254740993'], ['after beyond bigint', 'after=99999999999999999999'], ['after twice', 'after=1&after=2'], ['a cursor', 'cursor=abc']],
  });
  const queries: QueryTarget[] = [
    list('/v1/finance/regions', 'finance'),
    list('/v1/finance/accounts', 'finance'),
    list('/v1/finance/sharing-rules', 'finance'),
    list('/v1/finance/items', 'finance'),
    list('/v1/finance/parties', 'finance', [['role upper case', 'role=FINANCE'], ['role unknown', 'role=admin'], ['role with SQL', `role=${enc("unit' OR '1'='1")}`], ['role twice', 'role=unit&role=bank']]),
    list('/v1/finance/deliveries', 'finance', [['status lower case', 'status=pending'], ['status unknown', 'status=BOGUS'], ['recipient with SQL', `recipient=${enc("A' OR '1'='1")}`], ['recipient of 65 characters', `recipient=${'A'.repeat(65)}`]]),
    list('/v1/unit/notices', 'unit', [
      ['status lower case', 'status=issued'],
      ['status unknown', 'status=BOGUS'],
      ['status with SQL', `status=${enc("PAID' OR '1'='1")}`],
      ...DATES.map(([name, date]): [string, string] => [`createdFrom ${name}`, `createdFrom=${enc(date)}`]),
      ['createdTo before createdFrom', 'createdFrom=2026-11-20&createdTo=2026-11-19'],
      ['createdTo with SQL', `createdTo=${enc("2026-11-20' OR '1'='1")}`],
      ['bizRef with SQL', `bizRef=${enc("BR' OR '1'='1")}`],
      ['bizRef with a NUL', 'bizRef=BR%00'],
      ['bizRef of 65 characters', `bizRef=${'B'.repeat(65)}`],
    ]),
    events('finance'),
    events('unit'),
    events('agency'),
    events('bank'),
    {
      endpoint: 'GET /v1/agency/notices/{payCode}',
      sender: 'agency',
      path: `/v1/agency/notices/${payCode}`,
      queries: [['payerName empty', 'payerName='], ['payerName of 101 characters', `payerName=${enc('名'.repeat(101))}`], ['payerName twice', `${payerQuery}&${payerQuery}`], ...UNKNOWN_QUERIES],
    },
    {
      endpoint: 'GET /v1/public/notices/{payCode}',
      sender: 'public',
      path: `/v1/public/notices/${payCode}`,
      queries: [['payerName of 101 characters', `payerName=${enc('名'.repeat(101))}`], ['payerName twice', `${payerQuery}&${payerQuery}`], ...UNKNOWN_QUERIES.map(([name, query]): [string, string] => [name, `${payerQuery}&${query}`])],
    },
    {
      endpoint: 'GET /v1/public/receipts/{receiptNo}',
      sender: 'public',
      path: `/v1/public/receipts/${RECEIPT_NO}`,
      queries: [
        ['checkCode missing', 'check=ABC123'],
        ['checkCode of 5 characters', 'checkCode=ABC12'],
        ['checkCode of 7 characters', 'checkCode=ABC1234'],
        ['checkCode with SQL', `checkCode=${enc("AB'--1")}`],
        ['checkCode with a NUL', 'checkCode=ABC12%00'],
        ['checkCode fullwidth', `checkCode=${enc(toFullwidth(CHECK_CODE))}`],
        ['checkCode twice', `checkCode=${CHECK_CODE}&checkCode=${CHECK_CODE}`],
        ['an unknown parameter', `checkCode=${CHECK_CODE}&foo=bar`],
      ],
    },
  ];
  return [...pathParameterCases(paths), ...queryCases(queries)];
}

// ---- the corpus -------------------------------------------------------------------------------

function buildCorpus(fixtures: Fixtures): { seeds: Seed[]; cases: FuzzCase[] } {
  const all = seeds(fixtures);
  const firstOfEach = all.filter((seed, index) => all.findIndex((other) => other.endpoint === seed.endpoint) === index);
  const cases = [...all.flatMap(fieldCases), ...firstOfEach.flatMap(wholeBodyCases), ...urlCases(fixtures)];
  return { seeds: all, cases };
}

function countBy(cases: FuzzCase[], key: (c: FuzzCase) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of cases) counts[key(c)] = (counts[key(c)] ?? 0) + 1;
  return counts;
}

// ---- sending and judging --------------------------------------------------------------------------

async function sendAll(cases: FuzzCase[], send: (c: FuzzCase) => Promise<Outcome>): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const index = next;
      next += 1;
      outcomes[index] = await send(cases[index] as FuzzCase);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return outcomes;
}

const CATALOGUE = new Set<string>(ERROR_CODES);

/** What is wrong with an answer to a malformed request, or undefined when it is as it must be. */
function problemWith(outcome: Outcome): string | undefined {
  const { status, body, fuzzCase } = outcome;
  if (outcome.failure) return outcome.failure;
  if (status >= 500) return `a ${status}`;
  if (status === 401) return 'a 401: the case was not signed right (a bug in the corpus)';
  if (status < 400) return `accepted with ${status}`;
  const error = body?.error;
  if (typeof error !== 'object' || error === null || typeof error.code !== 'string' || typeof error.message !== 'string' || typeof error.requestId !== 'string') return 'not the error envelope';
  if (!CATALOGUE.has(error.code)) return `code ${error.code} is not in the catalogue`;
  if (ERROR_STATUS[error.code as ErrorCode] !== status) return `code ${error.code} is ${ERROR_STATUS[error.code as ErrorCode]} in the catalogue, answered with ${status}`;
  const expected = fuzzCase.expectedCode ?? EXPECTED_CODE[fuzzCase.family];
  if (expected && error.code !== expected) return `expected ${expected}, got ${error.code}`;
  return undefined;
}

function describeFailures(outcomes: Outcome[]): string {
  const failed = outcomes.flatMap((outcome) => {
    const problem = problemWith(outcome);
    if (!problem) return [];
    const c = outcome.fuzzCase;
    return [`${c.method} ${c.target.slice(0, 140)} [${c.family}: ${c.mutation}] → ${outcome.status} ${problem}: ${outcome.text.slice(0, 240)}`];
  });
  if (failed.length === 0) return '';
  return `${failed.length} of ${outcomes.length} malformed requests were not refused as they must be:\n${failed.slice(0, 60).join('\n')}${failed.length > 60 ? `\n… and ${failed.length - 60} more` : ''}`;
}

/** Rows and an md5 of their text, per table, for every table a refused request must leave alone. */
async function snapshotTables(db: Db): Promise<Record<string, { rows: number; md5: string }>> {
  const tables = (await db('information_schema.tables')
    .where({ table_schema: 'public', table_type: 'BASE TABLE' })
    .whereNotIn('table_name', TABLES_WRITTEN_BY_DESIGN)
    .orderBy('table_name')
    .pluck('table_name')) as string[];
  const snapshot: Record<string, { rows: number; md5: string }> = {};
  for (const table of tables) {
    const result = await db.raw(`SELECT count(*)::int AS rows, md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS md5 FROM ?? AS t`, [table]);
    const row = result.rows[0] as { rows: number; md5: string };
    snapshot[table] = { rows: row.rows, md5: row.md5 };
  }
  return snapshot;
}

// ---- the test -----------------------------------------------------------------------------------

describe('a fuzz corpus of malformed requests', () => {
  let service: TestService;
  let corpus: { seeds: Seed[]; cases: FuzzCase[] };
  let before: Record<string, { rows: number; md5: string }>;
  let outcomes: Outcome[];

  beforeAll(async () => {
    service = await startTestService({ businessNow: NOW });
    const world = await buildWorld(service);
    const unit = signedAs(service, world.unit);
    const payCode = await issueNotice(unit, { bizRef: 'FUZZ-PAYABLE' });
    const voidableCode = await issueNotice(unit, { bizRef: 'FUZZ-VOIDABLE' });
    const bank = { ...(await registerParty(world.services, { role: 'bank', code: 'FUZZ_BANK', name: '中国农业银行' })), code: 'FUZZ_BANK' };
    corpus = buildCorpus({ world, payCode, voidableCode, bank });
    before = await snapshotTables(service.database.db);

    const credentials: Record<Exclude<Sender, 'public'>, PartyCredentials> = { finance: world.finance, unit: world.unit, agency: world.agency, bank };
    // Every answer, the public ones included, is checked against contracts/ (no skipContract):
    // a refusal the contract does not describe is a failure of its case like any other.
    const send = async (fuzzCase: FuzzCase): Promise<Outcome> => {
      const headers: Record<string, string> = fuzzCase.contentType ? { 'content-type': fuzzCase.contentType } : {};
      const options = { ...(fuzzCase.body === undefined ? {} : { rawBody: fuzzCase.body }), headers };
      try {
        const response: TestResponse =
          fuzzCase.sender === 'public' ? await service.request(fuzzCase.method, fuzzCase.target, options) : await signedRequest(service, credentials[fuzzCase.sender], fuzzCase.method, fuzzCase.target, options);
        return { fuzzCase, status: response.status, text: response.text, body: response.body };
      } catch (error) {
        return { fuzzCase, status: 0, text: '', body: undefined, failure: (error as Error).message.slice(0, 600) };
      }
    };
    outcomes = await sendAll(corpus.cases, send);
  }, 600_000);

  afterAll(async () => {
    await service?.close();
  });

  it('starts every mutation from a seed that is a valid request per contracts/', () => {
    const contract = new Contract();
    const invalidSeeds = corpus.seeds.flatMap((seed) => {
      const validate = contract.operation(seed.operationId).body;
      if (!validate) return [`${seed.endpoint}: the contract has no body schema`];
      return validate(seed.body) ? [] : [`${seed.target}: ${JSON.stringify(validate.errors)}`];
    });
    expect(invalidSeeds).toEqual([]);
  });

  it(`holds at least ${MINIMUM_CORPUS} cases, from every mutation family, for every endpoint that takes input`, () => {
    expect(corpus.cases.length).toBeGreaterThanOrEqual(MINIMUM_CORPUS);
    const byFamily = countBy(corpus.cases, (c) => c.family);
    expect(FAMILIES.filter((family) => !byFamily[family])).toEqual([]);
    const byEndpoint = countBy(corpus.cases, (c) => c.endpoint);
    const endpoints = [
      'POST /v1/agency/payments',
      'POST /v1/unit/notices',
      'POST /v1/unit/notices/{payCode}/void',
      'PUT /v1/finance/regions/{regionCode}',
      'PUT /v1/finance/accounts/{accountNo}',
      'PUT /v1/finance/sharing-rules/{ruleCode}',
      'PUT /v1/finance/items/{itemCode}',
      'POST /v1/finance/parties',
      'PATCH /v1/finance/parties/{appId}',
      'POST /v1/finance/parties/{appId}/keys',
      'DELETE /v1/finance/parties/{appId}/keys/{keyId}',
      'PUT /v1/finance/units/{unitCode}/items',
      'POST /v1/finance/events/{eventId}/redeliver',
      'GET /v1/agency/notices/{payCode}',
      'GET /v1/agency/payments/{agencyTxnId}',
      'GET /v1/unit/notices',
      'GET /v1/unit/notices/{payCode}',
      'GET /v1/unit/receipts/{payCode}',
      'GET /v1/finance/regions',
      'GET /v1/finance/parties',
      'GET /v1/finance/deliveries',
      'GET /v1/unit/events',
      'GET /v1/public/notices/{payCode}',
      'GET /v1/public/receipts/{receiptNo}',
    ];
    expect(endpoints.filter((endpoint) => !byEndpoint[endpoint])).toEqual([]);
  });

  it('refuses every case with a 4xx whose catalogue code matches its status — never a 5xx, never a 401, never a success', () => {
    expect(outcomes).toHaveLength(corpus.cases.length);
    expect(describeFailures(outcomes)).toBe('');
  });

  it('writes nothing: every table holds the rows it held before, and the ledger verifies', async () => {
    expect(await snapshotTables(service.database.db)).toEqual(before);
    await expectLedgerVerified(service.database.db);
  });
});
