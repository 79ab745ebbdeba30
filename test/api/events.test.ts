import { addDays, shanghaiDate } from '../../src/domain/businessDate';
import { findPartyRecordByAppId } from '../../src/services/parties';
import { Receiver, startReceiver } from '../helpers/callbackReceivers';
import { buildWorld, ITEMS, registerParty, signedAs, World } from '../helpers/builders';
import { recordTestEvent } from '../helpers/eventFixtures';
import type { PartyCredentials } from '../helpers/signedClient';
import { startTestService, TestService } from '../helpers/testService';
import { smCryptoSm2 } from '../unit/crypto/smCrypto';

// Events and callbacks over HTTP (docs/interface.md §6.1, §6.5; docs/lifecycle.md §5), with the service's
// own wiring: signed pulls by every kind of party, a use case recording an event, and — with
// TONGFU_JOBS=on — the background sequencer and delivery worker, seen through finance's list of
// deliveries and its redelivery. Every response is checked against contracts/.

const smCryptoSm3 = (require('sm-crypto') as { sm3(input: string): string }).sm3;

async function waitFor(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('events and deliveries API', () => {
  let service: TestService;
  let world: World;
  let bank: PartyCredentials;
  let receiver: Receiver;
  const partyIdOf = async (credentials: PartyCredentials) => (await findPartyRecordByAppId(service.database.db, credentials.appId))?.partyId as string;

  beforeAll(async () => {
    service = await startTestService({ env: { TONGFU_JOBS: 'on' } });
    world = await buildWorld(service);
    bank = await registerParty(world.services, { role: 'bank', code: 'BANK_EVENTS' });
    receiver = await startReceiver({ kind: 'ok' }, '/tongfu/events');
  });
  afterAll(async () => {
    await service.close();
    await receiver.close();
  });

  it('lets every party pull its own events, and only its own, page by page', async () => {
    const [finance, unit, agency, bankId] = await Promise.all([world.finance, world.unit, world.agency, bank].map(partyIdOf)) as [string, string, string, string];
    const first = await recordTestEvent(service.database.db, [finance, unit]);
    const second = await recordTestEvent(service.database.db, [agency]);
    const third = await recordTestEvent(service.database.db, [bankId, unit]);

    const pulled = async (credentials: PartyCredentials, role: string, query = '') => {
      const response = await signedAs(service, credentials)('GET', `/v1/${role}/events${query}`);
      expect(response.status).toBe(200);
      return response.body as { data: Array<{ eventId: string; sequence: number; type: string }>; nextAfter: number };
    };
    expect((await pulled(world.finance, 'finance')).data.map((event) => [event.eventId, event.sequence])).toEqual([[first, 1]]);
    expect((await pulled(world.agency, 'agency')).data.map((event) => [event.eventId, event.sequence])).toEqual([[second, 1]]);
    expect((await pulled(bank, 'bank')).data.map((event) => [event.eventId, event.sequence])).toEqual([[third, 1]]);
    const unitAll = await pulled(world.unit, 'unit');
    expect(unitAll.data.map((event) => [event.eventId, event.sequence])).toEqual([[first, 1], [third, 2]]);
    expect(unitAll.nextAfter).toBe(2);

    expect(await pulled(world.unit, 'unit', '?after=1&limit=1')).toMatchObject({ data: [{ eventId: third, sequence: 2 }], nextAfter: 2 });
    expect(await pulled(world.unit, 'unit', '?after=2')).toEqual({ data: [], nextAfter: 2 });
    expect(await pulled(world.unit, 'unit', '?limit=1')).toMatchObject({ data: [{ eventId: first }], nextAfter: 1 });
  });

  it('refuses another role\'s events and invalid paging', async () => {
    const unit = signedAs(service, world.unit);
    const forbidden = await unit('GET', '/v1/agency/events');
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('FORBIDDEN');
    for (const query of ['?after=-1', '?after=abc', '?after=1.5', '?after=99999999999999999999', '?limit=0', '?limit=501', '?since=3']) {
      const refused = await unit('GET', `/v1/unit/events${query}`);
      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe('VALIDATION_FAILED');
    }
  });

  it('tells a unit that its notice was voided (notice.voided, recorded by the notice use case)', async () => {
    const unit = signedAs(service, world.unit);
    const before = (await unit('GET', '/v1/unit/events')).body.nextAfter as number;
    const dueDate = addDays(shanghaiDate(service.clocks.business.now()), 10);
    const created = await unit('POST', '/v1/unit/notices', { bizRef: `EV-${Date.now()}`, noticeType: 1, payer: { name: '张三' }, items: [{ itemCode: ITEMS.fixedFee, amount: '50.00' }], dueDate });
    expect(created.status).toBe(201);
    const payCode = created.body.payCode as string;
    expect((await unit('POST', `/v1/unit/notices/${payCode}/void`, { reason: '重复开具' })).status).toBe(200);

    const page = await unit('GET', `/v1/unit/events?after=${before}`);
    expect(page.body.data).toHaveLength(1);
    expect(page.body.data[0]).toMatchObject({ type: 'notice.voided', sequence: before + 1, data: { notice: { payCode, status: 'VOIDED', payer: { name: '张三' } } } });
  });

  it('delivers in the background where TONGFU_JOBS=on, and lets finance list deliveries and redeliver any event', async () => {
    const finance = signedAs(service, world.finance);
    const patched = await finance('PATCH', `/v1/finance/parties/${world.agency.appId}`, { callbackUrl: receiver.url });
    expect(patched.status).toBe(200);
    service.runtime.startBackground();

    const agencyId = await partyIdOf(world.agency);
    const eventId = await recordTestEvent(service.database.db, [agencyId]);
    // The start-up catch-up runs the night's jobs too, and whether reconcile's latest slot sends
    // the agency a reconciliation.completed depends on the time of day: the test counts its own
    // events only.
    const ours = () => receiver.received.filter((received) => received.json?.type === 'payment.succeeded');
    // Nothing asks for the event: the background sequencer numbers it and the worker delivers it.
    await waitFor('the callback', () => ours().length === 1);
    const callback = ours()[0];
    expect(callback?.json).toMatchObject({ eventId, type: 'payment.succeeded' });
    // Signed with the key the platform publishes.
    const published = (await service.request('GET', '/v1/platform/keys')).body.keys[0];
    expect(callback?.headers['x-tongfu-key-id']).toBe(published.keyId);
    const stringToSign = `POST\n/tongfu/events\n${String(callback?.headers['x-tongfu-timestamp'])}\n${String(callback?.headers['x-tongfu-nonce'])}\n${smCryptoSm3(callback?.body.toString('utf8') ?? '')}\n`;
    const signatureHex = Buffer.from(String(callback?.headers['x-tongfu-signature']), 'base64').toString('hex');
    expect(smCryptoSm2.doVerifySignature(stringToSign, signatureHex, published.publicKeyHex, { hash: true, der: true })).toBe(true);

    let listed: any;
    await waitFor('the delivery to be recorded', async () => {
      const page = (await finance('GET', `/v1/finance/deliveries?recipient=${world.agency.appId}`)).body;
      listed = { ...page, data: page.data.filter((delivery: { eventId: string }) => delivery.eventId === eventId) };
      return listed.data.length === 1 && listed.data[0].status === 'DELIVERED';
    });
    expect(listed).toEqual({
      data: [
        {
          eventId,
          type: 'payment.succeeded',
          sequence: expect.any(Number),
          recipient: world.agency.appId,
          status: 'DELIVERED',
          attemptCount: 0,
          nextAttemptAt: null,
          deliveredAt: expect.stringMatching(/\+08:00$/),
          redeliveryCount: 0,
          createdAt: expect.stringMatching(/\+08:00$/),
          attempts: [{ attemptedAt: expect.stringMatching(/\+08:00$/), url: receiver.url, outcome: 'DELIVERED', statusCode: 200, latencyMs: expect.any(Number), error: null }],
        },
      ],
      nextCursor: null,
    });
    expect((await finance('GET', '/v1/finance/deliveries?status=DEAD')).body.data).toEqual([]);

    const redelivered = await finance('POST', `/v1/finance/events/${eventId}/redeliver`);
    expect(redelivered.status).toBe(202);
    expect(redelivered.body).toEqual({ eventId, status: 'PENDING' });
    await waitFor('the redelivered callback', () => ours().length === 2);
    expect(ours().map((received) => received.json?.eventId)).toEqual([eventId, eventId]);
    await waitFor('the redelivery to be recorded', async () => {
      const delivered = (await finance('GET', `/v1/finance/deliveries?recipient=${world.agency.appId}&status=DELIVERED`)).body.data as Array<{ eventId: string; redeliveryCount: number; attempts: unknown[] }>;
      const delivery = delivered.find((candidate) => candidate.eventId === eventId);
      return delivery?.redeliveryCount === 1 && delivery.attempts.length === 2;
    });

    // A second delivery, then pages of one.
    await recordTestEvent(service.database.db, [agencyId]);
    await waitFor('the second callback', () => ours().length === 3);
    const firstPage = (await finance('GET', `/v1/finance/deliveries?recipient=${world.agency.appId}&limit=1`)).body;
    expect(firstPage.data).toHaveLength(1);
    expect(firstPage.nextCursor).toEqual(expect.any(String));
    const secondPage = (await finance('GET', `/v1/finance/deliveries?recipient=${world.agency.appId}&limit=1&cursor=${firstPage.nextCursor}`)).body;
    expect(secondPage.data).toHaveLength(1);
    expect(secondPage.data[0].eventId).not.toBe(firstPage.data[0].eventId);
  });

  it('answers NOT_FOUND for an unknown event, FORBIDDEN to other roles, VALIDATION_FAILED for a bad filter', async () => {
    const finance = signedAs(service, world.finance);
    const missing = await finance('POST', '/v1/finance/events/ENoSuchEvent/redeliver');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
    const badId = await finance('POST', '/v1/finance/events/not%20an%20id/redeliver');
    expect(badId.status).toBe(400);
    const badStatus = await finance('GET', '/v1/finance/deliveries?status=LOST');
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.error.code).toBe('VALIDATION_FAILED');
    const unit = signedAs(service, world.unit);
    for (const [method, target] of [['GET', '/v1/finance/deliveries'], ['POST', '/v1/finance/events/ENoSuchEvent/redeliver']] as const) {
      const forbidden = await unit(method, target);
      expect(forbidden.status).toBe(403);
      expect(forbidden.body.error.code).toBe('FORBIDDEN');
    }
  });
});
