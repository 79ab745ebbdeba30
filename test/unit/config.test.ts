import { ConfigError, loadConfig, parseClockSpec } from '../../src/config';
import { fixedClock, systemClock } from '../../src/domain/clock';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 8080, host: '127.0.0.1', databaseUrl: undefined, publicBaseUrl: 'http://localhost:8080', logLevel: 'info', clockSpec: 'system', jobsEnabled: true, production: false });
    expect(config.dataDir).toMatch(/\/var$/);
  });

  it.each([
    ['PORT', { PORT: '80a' }],
    ['PORT', { PORT: '70000' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
    ['PUBLIC_BASE_URL', { PUBLIC_BASE_URL: 'ftp://x' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['TONGFU_PLATFORM_KEY', { TONGFU_PLATFORM_KEY: 'abc' }],
    ['TONGFU_FIELD_KEY', { TONGFU_FIELD_KEY: '00' }],
    ['TONGFU_CLOCK', { TONGFU_CLOCK: 'tomorrow' }],
    ['TONGFU_CLOCK', { TONGFU_CLOCK: 'offset:+1d', NODE_ENV: 'production', TONGFU_PLATFORM_KEY: 'a'.repeat(64), TONGFU_FIELD_KEY: 'b'.repeat(32) }],
    ['TONGFU_PLATFORM_KEY', { NODE_ENV: 'production' }],
    ['TONGFU_JOBS', { TONGFU_JOBS: 'yes' }],
    ['TONGFU_HTTP_WORKERS', { TONGFU_HTTP_WORKERS: '0' }],
  ])('names %s when it is invalid', (variable, env) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    try {
      loadConfig(env);
    } catch (error) {
      expect((error as ConfigError).variable).toBe(variable);
      expect((error as Error).message).toContain(variable);
    }
  });

  it('collects TONGFU_CRON_<JOB> overrides by job name', () => {
    expect(loadConfig({ TONGFU_CRON_PURGE_NONCES: '*/5 * * * *' }).cronOverrides).toEqual({ 'purge-nonces': '*/5 * * * *' });
  });

  it('moves only the business clock', () => {
    const real = fixedClock(new Date('2026-11-27T00:00:00Z'));
    expect(parseClockSpec('system', real)).toBe(real);
    expect(parseClockSpec('offset:+2d', real).now().toISOString()).toBe('2026-11-29T00:00:00.000Z');
    expect(parseClockSpec('offset:-90m', real).now().toISOString()).toBe('2026-11-26T22:30:00.000Z');
    expect(parseClockSpec('fixed:2026-12-01T09:00:00+08:00', systemClock).now().toISOString()).toBe('2026-12-01T01:00:00.000Z');
  });
});
