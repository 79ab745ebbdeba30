import { ConfigError, loadConfig, parseClockSpec } from '../../src/config';
import { fixedClock, systemClock } from '../../src/domain/clock';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 8080, host: '127.0.0.1', databaseUrl: undefined, publicBaseUrl: 'http://localhost:8080', logLevel: 'info', clockSpec: 'system', jobsEnabled: true, production: false, sandbox: true });
    expect(loadConfig({ TONGFU_SANDBOX: 'off' }).sandbox).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', TONGFU_PLATFORM_KEY: 'a'.repeat(64), TONGFU_FIELD_KEY: 'b'.repeat(32) }).sandbox).toBe(false);
    expect(config.dataDir).toMatch(/\/var$/);
    expect(loadConfig({ PORT: '18080' }).publicBaseUrl).toBe('http://localhost:18080');
    expect(loadConfig({ PORT: '18080', PUBLIC_BASE_URL: 'https://pay.example.gov.cn/' }).publicBaseUrl).toBe('https://pay.example.gov.cn');
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
    ['TONGFU_SANDBOX', { TONGFU_SANDBOX: 'yes' }],
    ['TONGFU_SANDBOX', { TONGFU_SANDBOX: 'on', NODE_ENV: 'production', TONGFU_PLATFORM_KEY: 'a'.repeat(64), TONGFU_FIELD_KEY: 'b'.repeat(32) }],
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

describe('TONGFU_TRUSTED_PROXIES and TONGFU_CALLBACK_ALLOW', () => {
  it('are empty by default, so no X-Forwarded-For is believed and no private callback is allowed in production', () => {
    const config = loadConfig({});
    expect(config.trustedProxies.cidrs).toEqual([]);
    expect(config.trustedProxies.contains('127.0.0.1')).toBe(false);
    expect(config.callbackAllow.cidrs).toEqual([]);
  });

  it('take comma lists of IPv4 and IPv6 CIDRs, a bare address being a range of one', () => {
    const config = loadConfig({ TONGFU_TRUSTED_PROXIES: ' 10.0.0.0/8, 192.0.2.7 ,fd00::/8', TONGFU_CALLBACK_ALLOW: '172.16.5.0/24,::1' });
    expect(config.trustedProxies.cidrs).toEqual(['10.0.0.0/8', '192.0.2.7/32', 'fd00::/8']);
    expect(config.trustedProxies.contains('10.200.3.4')).toBe(true);
    expect(config.trustedProxies.contains('::ffff:10.1.2.3')).toBe(true);
    expect(config.trustedProxies.contains('fd12::1')).toBe(true);
    expect(config.trustedProxies.contains('192.0.2.8')).toBe(false);
    expect(config.callbackAllow.contains('172.16.5.9')).toBe(true);
    expect(config.callbackAllow.contains('::1')).toBe(true);
  });

  it.each([
    ['TONGFU_TRUSTED_PROXIES', '10.0.0.0/33'],
    ['TONGFU_TRUSTED_PROXIES', 'proxy.example'],
    ['TONGFU_TRUSTED_PROXIES', '10.0.0.0/8,10.0.0.256'],
    ['TONGFU_TRUSTED_PROXIES', 'fd00::/129'],
    ['TONGFU_CALLBACK_ALLOW', '10.0.0.0/x'],
    ['TONGFU_CALLBACK_ALLOW', '10.0.0.0/8/8'],
  ])('stop start-up naming %s when an entry (%s) is not a CIDR', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
    try {
      loadConfig({ [variable]: value });
    } catch (error) {
      expect((error as ConfigError).variable).toBe(variable);
      expect((error as Error).message).toContain(variable);
    }
  });
});
