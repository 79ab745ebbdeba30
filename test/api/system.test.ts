import { startTestService, TestService } from '../helpers/testService';

describe('system endpoints', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service.close();
  });

  it('answers /healthz while the process runs', async () => {
    const response = await service.request('GET', '/healthz');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
  });

  it('is ready when the database answers and every migration is applied', async () => {
    const response = await service.request('GET', '/readyz');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ready' });
  });

  it('is not ready while migrations are behind', async () => {
    await service.database.db('knex_migrations').where('name', 'like', '%platform_settings%').delete();
    const fresh = await startTestServiceSharing(service);
    try {
      const response = await fresh('GET', '/readyz');
      expect(response.status).toBe(503);
      expect(response.body.status).toBe('not-ready');
      expect(response.body.reason).toMatch(/migrations behind/);
    } finally {
      await service.database.db('knex_migrations').insert({ name: '20261127000002_platform_settings.ts', batch: 1, migration_time: new Date() });
    }
  });

  it('exposes Prometheus metrics with requests by route and status, and the pool', async () => {
    await service.request('GET', '/healthz');
    await service.request('GET', '/no/such/route');
    const response = await service.request('GET', '/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(response.text).toMatch(/tongfu_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    expect(response.text).toMatch(/tongfu_http_requests_total\{method="GET",route="unmatched",status="404"\} \d+/);
    expect(response.text).toMatch(/tongfu_http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/healthz",status="200"\}/);
    expect(response.text).toMatch(/tongfu_db_pool_max_connections \d+/);
  });

  it.each(['GET', 'POST', 'PUT', 'DELETE'])('answers 404 NOT_FOUND with the envelope for an unknown route (%s)', async (method) => {
    const response = await service.request(method, '/v1/unknown/thing', { rawBody: method === 'GET' ? undefined : '{broken', headers: { 'content-type': 'text/xml' } });
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('NOT_FOUND');
    expect(response.body.error.requestId).toBe(response.headers.get('x-request-id'));
  });

  it('echoes a caller X-Request-Id and generates one otherwise', async () => {
    const echoed = await service.request('GET', '/healthz', { headers: { 'X-Request-Id': 'bank-trace-0001' } });
    expect(echoed.headers.get('x-request-id')).toBe('bank-trace-0001');
    const generated = await service.request('GET', '/healthz');
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

/** A second app on the same database, started after the migrations table was changed. */
async function startTestServiceSharing(existing: TestService) {
  const { createApp } = await import('../../src/http/app');
  const { Contract } = await import('../../src/http/contract');
  const { Metrics } = await import('../../src/http/metrics');
  const { pendingMigrations } = await import('../../src/db/database');
  const http = await import('node:http');
  const pino = (await import('pino')).default;
  const app = createApp({
    log: pino({ level: 'silent' }),
    contract: new Contract(),
    metrics: new Metrics(),
    routes: [],
    async readiness() {
      const pending = await pendingMigrations(existing.database.db);
      return pending.length > 0 ? `migrations behind: ${pending.join(', ')}` : undefined;
    },
  });
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return async (method: string, path: string) => {
    try {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { method });
      return { status: response.status, body: (await response.json()) as { status: string; reason: string } };
    } finally {
      server.close();
    }
  };
}
