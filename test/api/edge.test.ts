import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { TongfuError } from '../../src/domain/errors';
import { parseMoney } from '../../src/domain/money';
import { createApp } from '../../src/http/app';
import type { RequestAuthenticator } from '../../src/domain/access';
import type { Call, RouteDefinition } from '../../src/http/call';
import { Contract, loadContractDocument } from '../../src/http/contract';
import { Metrics } from '../../src/http/metrics';

/**
 * The HTTP edge on its own: a route defined here, described by a contract fragment defined here,
 * exercises every check of docs/interface.md §3 and their precedence.
 */
const document = loadContractDocument();
document.paths['/v1/agency/echo/{payCode}'] = {
  post: {
    operationId: 'edgeEcho',
    parameters: [
      { name: 'payCode', in: 'path', required: true, schema: { $ref: '#/components/schemas/PayCode' } },
      { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 500 } },
    ],
    requestBody: {
      content: {
        'application/json': {
          schema: {
            type: 'object',
            additionalProperties: false,
            required: ['agencyTxnId', 'amount', 'items'],
            properties: {
              agencyTxnId: { $ref: '#/components/schemas/CallerId' },
              amount: { $ref: '#/components/schemas/Money' },
              channel: { enum: ['COUNTER', 'MOBILE'] },
              items: { type: 'array', minItems: 1, items: { type: 'object', additionalProperties: false, required: ['amount'], properties: { amount: { $ref: '#/components/schemas/Money' } } } },
            },
          },
        },
      },
    },
    responses: {},
  },
};

const calls: Call[] = [];
const routes: RouteDefinition[] = [
  {
    method: 'POST',
    path: '/v1/agency/echo/:payCode',
    operationId: 'edgeEcho',
    access: 'agency',
    body: 'json',
    async handle(call) {
      calls.push(call);
      const body = call.body as { amount: string; agencyTxnId: string };
      if (body.agencyTxnId === 'explode') throw new Error('secret internal detail: password=hunter2');
      if (body.agencyTxnId === 'db-down') throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      if (body.agencyTxnId === 'db-socket-gone') throw Object.assign(new Error('connect ENOENT /var/pg/.s.PGSQL.5432'), { code: 'ENOENT', syscall: 'connect' });
      if (body.agencyTxnId === 'file-missing') throw Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), { code: 'ENOENT', syscall: 'open' });
      if (body.agencyTxnId === 'business') throw new TongfuError('AMOUNT_MISMATCH', 'amount differs', { amountDue: '103.00' });
      return { status: 201, body: { amount: parseMoney(body.amount)?.toFixed(2), limit: call.query.limit ?? null } };
    },
  },
];

/** Accepts requests whose X-Tongfu-App-Id is "good"; enough to place the signature in the precedence. */
const authenticator: RequestAuthenticator = {
  async authenticate(request) {
    if (request.headers['x-tongfu-app-id'] !== 'good') throw new TongfuError('SIGNATURE_MISSING', 'signature headers missing');
    return { partyId: '1', appId: 'good', role: 'agency', code: 'AG1', name: 'agency' };
  },
};

const VALID_CODE = '15010226100000000103';
const BAD_CODE = '15010226100000000104';

describe('the HTTP edge', () => {
  let server: http.Server;
  let base: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    const log = pino({ level: 'info' }, { write: (line: string) => logLines.push(line) });
    const app = createApp({ log, contract: new Contract(document), metrics: new Metrics(), routes, authenticator, readiness: async () => undefined });
    server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    calls.length = 0;
  });

  async function post(path: string, body: string | Buffer, headers: Record<string, string> = {}) {
    const response = await fetch(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-tongfu-app-id': 'good', ...headers } });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
  }
  const good = { agencyTxnId: 'T1', amount: '100.00', items: [{ amount: '100.00' }] };

  it('passes a valid request through with money parsed exactly', async () => {
    const response = await post(`/v1/agency/echo/${VALID_CODE}?limit=5`, JSON.stringify(good));
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ amount: '100.00', limit: 5 });
    expect(calls).toHaveLength(1);
  });

  it('answers 404 NOT_FOUND for a known path with another method, before anything else', async () => {
    const response = await fetch(`${base}/v1/agency/echo/${VALID_CODE}`, { method: 'PUT', body: 'x', headers: { 'content-type': 'text/plain' } });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('answers 415 for a body that is not JSON, before the size and the signature', async () => {
    const response = await post(`/v1/agency/echo/${VALID_CODE}`, 'x'.repeat(2 * 1024 * 1024), { 'content-type': 'text/plain', 'x-tongfu-app-id': '' });
    expect(response.status).toBe(415);
    expect(response.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers 415 for a JSON body declared in a charset other than UTF-8; UTF-8 in any spelling passes', async () => {
    for (const contentType of ['application/json; charset=utf-16', 'application/json;charset="ISO-8859-1"', 'application/json; charset=gbk']) {
      const response = await post(`/v1/agency/echo/${VALID_CODE}`, JSON.stringify(good), { 'content-type': contentType });
      expect({ contentType, status: response.status, code: response.body.error?.code }).toEqual({ contentType, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    }
    for (const contentType of ['application/json; charset=UTF-8', 'application/json;charset="utf8"', 'Application/JSON']) {
      const response = await post(`/v1/agency/echo/${VALID_CODE}`, JSON.stringify(good), { 'content-type': contentType });
      expect({ contentType, status: response.status }).toEqual({ contentType, status: 201 });
    }
  });

  it('matches paths exactly as written: another letter case or a trailing slash is 404', async () => {
    for (const target of [`/V1/AGENCY/echo/${VALID_CODE}`, `/v1/agency/echo/${VALID_CODE}/`]) {
      const response = await post(target, JSON.stringify(good));
      expect([target, response.status, response.body.error.code]).toEqual([target, 404, 'NOT_FOUND']);
    }
  });

  it('answers 413 for a body over 1 MiB, before the signature', async () => {
    const response = await post(`/v1/agency/echo/${VALID_CODE}`, `{"pad":"${'x'.repeat(1024 * 1024)}"}`, { 'x-tongfu-app-id': '' });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers 413 for a chunked body that grows past the limit while it arrives', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const request = http.request(`${base}/v1/agency/echo/${VALID_CODE}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tongfu-app-id': 'good', 'transfer-encoding': 'chunked' } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on('error', reject);
      for (let i = 0; i < 20; i += 1) request.write(Buffer.alloc(100 * 1024, 0x20));
      request.end();
    });
    expect(status).toBe(413);
  });

  it('checks the signature before parsing the body', async () => {
    const response = await post(`/v1/agency/echo/${VALID_CODE}`, '{broken', { 'x-tongfu-app-id': '' });
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('SIGNATURE_MISSING');
  });

  it.each([
    ['broken JSON', '{"agencyTxnId": '],
    ['an empty body', ''],
    ['bytes that are not UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
  ])('answers MALFORMED_JSON for %s', async (_label, body) => {
    const response = await post(`/v1/agency/echo/${VALID_CODE}`, body as string);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('MALFORMED_JSON');
    expect(calls).toHaveLength(0);
  });

  it.each([
    ['a JSON number', 100],
    ['one decimal', '100.0'],
    ['three decimals', '100.000'],
    ['a sign', '-100.00'],
    ['an exponent', '1e2'],
    ['a leading zero', '0100.00'],
    ['no decimals', '100'],
  ])('answers AMOUNT_INVALID for %s, before a bad pay code and other problems', async (_label, amount) => {
    const response = await post(`/v1/agency/echo/${BAD_CODE}`, JSON.stringify({ ...good, amount, unknown: 1 }));
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('AMOUNT_INVALID');
  });

  it('finds bad amounts nested in arrays', async () => {
    const response = await post(`/v1/agency/echo/${VALID_CODE}`, JSON.stringify({ ...good, items: [{ amount: '1.5' }] }));
    expect(response.body.error.code).toBe('AMOUNT_INVALID');
    expect(response.body.error.details.fields[0].path).toBe('/items/0/amount');
  });

  it('answers PAY_CODE_INVALID for bad check digits, before other validation problems', async () => {
    const response = await post(`/v1/agency/echo/${BAD_CODE}`, JSON.stringify({ ...good, unknown: true }));
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('PAY_CODE_INVALID');
  });

  it('lists every validation problem at once, unknown fields included', async () => {
    const response = await post(`/v1/agency/echo/${VALID_CODE}?limit=0&extra=1`, JSON.stringify({ agencyTxnId: 'has space', amount: '1.00', channel: 'FAX', items: [], typo: 1 }));
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('VALIDATION_FAILED');
    const paths = response.body.error.details.fields.map((f: { path: string }) => f.path).sort();
    expect(paths).toEqual(['/agencyTxnId', '/channel', '/items', '/query/extra', '/query/limit', '/typo'].sort());
    expect(response.body.error.details.fields.find((f: { path: string }) => f.path === '/typo').problem).toBe('unknown field');
    expect(calls).toHaveLength(0);
  });

  it('answers business errors with their status and details', async () => {
    const response = await post(`/v1/agency/echo/${VALID_CODE}`, JSON.stringify({ ...good, agencyTxnId: 'business' }));
    expect(response.status).toBe(422);
    expect(response.body.error).toMatchObject({ code: 'AMOUNT_MISMATCH', details: { amountDue: '103.00' } });
  });

  it('never leaks internals in a 500, and logs them with the request id', async () => {
    const response = await post(`/v1/agency/echo/${VALID_CODE}`, JSON.stringify({ ...good, agencyTxnId: 'explode' }), { 'x-request-id': 'trace-500' });
    expect(response.status).toBe(500);
    expect(response.body.error.code).toBe('INTERNAL');
    expect(JSON.stringify(response.body)).not.toMatch(/hunter2|secret|stack/);
    const line = logLines.map((l) => JSON.parse(l)).find((l) => l.requestId === 'trace-500' && l.level === 50);
    expect(line?.err?.message).toMatch(/secret internal detail/);
  });

  it.each(['db-down', 'db-socket-gone'])('answers 503 UNAVAILABLE with Retry-After when the database is unreachable (%s)', async (agencyTxnId) => {
    const response = await post(`/v1/agency/echo/${VALID_CODE}`, JSON.stringify({ ...good, agencyTxnId }));
    expect(response.status).toBe(503);
    expect(response.body.error.code).toBe('UNAVAILABLE');
    expect(response.headers.get('retry-after')).toBe('5');
  });

  it('answers 500, not 503, for a missing file that is not the database socket', async () => {
    const response = await post(`/v1/agency/echo/${VALID_CODE}`, JSON.stringify({ ...good, agencyTxnId: 'file-missing' }));
    expect(response.status).toBe(500);
    expect(response.body.error.code).toBe('INTERNAL');
  });

  it('writes one JSON log line per request with its id, and no query string', async () => {
    await fetch(`${base}/v1/public/nothing?payerName=%E5%BC%A0%E4%B8%89`, { headers: { 'x-request-id': 'trace-log' } });
    const lines = logLines.map((l) => JSON.parse(l)).filter((l) => l.requestId === 'trace-log');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'request', status: 404, path: '/v1/public/nothing' });
    expect(JSON.stringify(lines)).not.toMatch(/payerName|张三/);
  });
});
