import crypto from 'node:crypto';
import { findNoticesByPayCodeStoringNonces, readItemsForNotices, type VerificationRead } from '../../src/db/repositories/notices';
import { payCodeCheckDigits } from '../../src/domain/payCode';
import { NONCE_REUSE_WINDOW_MS, nonceClaimAt } from '../../src/services/nonces';
import { buildWorld, ITEMS, signedAs, SignedCall, World } from '../helpers/builders';
import { startTestService, TestService } from '../helpers/testService';

/**
 * contracts/decisions/0173-batched-verification.md: verifications share one statement, and each
 * is answered as if it had been alone — its notice or none, its nonce claimed once.
 */
let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;
const payCodes: string[] = [];
/** A well-formed payCode no notice has. */
const UNKNOWN_PAY_CODE = `150102269999999999${payCodeCheckDigits('150102269999999999')}`;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date('2026-11-27T10:00:00+08:00') });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
  for (let index = 0; index < 3; index += 1) {
    const created = await unit('POST', '/v1/unit/notices', {
      bizRef: `VB-${crypto.randomBytes(6).toString('hex')}`,
      noticeType: 1,
      payer: { name: '其木格', idNumber: '150102199001010019', mobile: '13700001111' },
      items: [{ itemCode: ITEMS.fixedFee, quantity: 1, amount: '50.00' }],
      dueDate: '2026-12-05',
      expireDate: '2026-12-31',
    });
    expect(created.status).toBe(201);
    payCodes.push(created.body.payCode as string);
  }
});

afterAll(async () => {
  await service.close();
});

const read = (payCode: string, nonce: string, at = new Date()): VerificationRead => ({ payCode, nonce: nonceClaimAt(world.agency.appId, nonce, at) });

it('answers each verification of a batch as if alone, in order', async () => {
  const used = `used-${crypto.randomBytes(8).toString('hex')}`;
  expect((await findNoticesByPayCodeStoringNonces(service.database.db, [read(payCodes[0]!, used)]))[0]!.nonceClaimed).toBe(true);
  const twice = `twice-${crypto.randomBytes(8).toString('hex')}`;
  const reads = [
    read(payCodes[1]!, `a-${crypto.randomBytes(8).toString('hex')}`),
    read(UNKNOWN_PAY_CODE, `b-${crypto.randomBytes(8).toString('hex')}`),
    read(payCodes[2]!, twice),
    read(payCodes[0]!, used),
    read(payCodes[0]!, twice),
    read(payCodes[0]!, `c-${crypto.randomBytes(8).toString('hex')}`),
  ];
  const answers = await findNoticesByPayCodeStoringNonces(service.database.db, reads);
  // A refused nonce ends the request (NONCE_REUSED) whatever the notice: only the claim counts.
  expect(answers.map((answer) => [answer.nonceClaimed ? (answer.row?.pay_code ?? null) : 'refused', answer.nonceClaimed])).toEqual([
    [payCodes[1], true],
    [null, true], // no such notice: the nonce is stored all the same
    [payCodes[2], true],
    ['refused', false], // used before this batch
    ['refused', false], // used earlier in this batch
    [payCodes[0], true],
  ]);
  const stored = await service.database.db('request_nonces').where({ app_id: world.agency.appId }).whereIn('nonce', reads.map((each) => each.nonce.nonce)).count({ n: '*' });
  expect(Number(stored[0]!.n)).toBe(5);
  // A nonce is free again after the reuse window, in a batch as alone.
  const later = new Date(Date.now() + NONCE_REUSE_WINDOW_MS + 1_000);
  const again = await findNoticesByPayCodeStoringNonces(service.database.db, [read(payCodes[0]!, used, later)]);
  expect(again[0]!.nonceClaimed).toBe(true);
});

it('over HTTP, under concurrent verifications and replays, answers 200 once per nonce and NONCE_REUSED to every copy', async () => {
  const nonces = Array.from({ length: 40 }, (_unused, index) => `http-${index}-${crypto.randomBytes(8).toString('hex')}`);
  // Each nonce is sent three times at once: the original and two copies.
  const calls = nonces.flatMap((nonce, index) => [0, 1, 2].map(() => agency('GET', `/v1/agency/notices/${payCodes[index % payCodes.length]}`, undefined, { nonce }).then((response) => ({ nonce, index, response }))));
  const responses = await Promise.all(calls);
  for (const nonce of nonces) {
    const mine = responses.filter((each) => each.nonce === nonce);
    expect(mine.map((each) => each.response.status).sort()).toEqual([200, 401, 401]);
    const ok = mine.find((each) => each.response.status === 200)!;
    expect(ok.response.body.payCode).toBe(payCodes[ok.index % payCodes.length]);
    for (const copy of mine.filter((each) => each.response.status === 401)) expect(copy.response.body.error.code).toBe('NONCE_REUSED');
  }
  const unknown = await agency('GET', `/v1/agency/notices/${UNKNOWN_PAY_CODE}`);
  expect([unknown.status, unknown.body.error.code]).toEqual([404, 'NOTICE_NOT_FOUND']);
});

it('reads the items of many notice creations in one statement, each as if alone (decision 0175)', async () => {
  const unitParty = (await service.database.db('parties').where({ app_id: world.unit.appId }).first()) as { id: string };
  const claim = (text: string) => nonceClaimAt(world.unit.appId, text, new Date());
  const repeated = `items-repeated-${crypto.randomBytes(8).toString('hex')}`;
  const answers = await readItemsForNotices(service.database.db, [
    { unitPartyId: String(unitParty.id), itemCodes: [ITEMS.fixedFee, ITEMS.fixedFee], nonce: claim(repeated) },
    { unitPartyId: String(unitParty.id), itemCodes: ['NO-SUCH-ITEM'], nonce: claim(`items-a-${crypto.randomBytes(8).toString('hex')}`) },
    { unitPartyId: String(unitParty.id), itemCodes: [ITEMS.fixedFee], nonce: claim(repeated) },
    { unitPartyId: '999999999', itemCodes: [ITEMS.fixedFee], nonce: claim(`items-b-${crypto.randomBytes(8).toString('hex')}`) },
  ]);
  expect(answers.map((answer) => answer.nonceClaimed)).toEqual([true, true, false, true]);
  // A code named twice is read once; an unknown code reads nothing; another unit's is not authorised.
  expect(answers[0]!.items.map((item) => [item.code, item.authorized])).toEqual([[ITEMS.fixedFee, true]]);
  expect(answers[1]!.items).toEqual([]);
  expect(answers[3]!.items.map((item) => [item.code, item.authorized])).toEqual([[ITEMS.fixedFee, false]]);
});
