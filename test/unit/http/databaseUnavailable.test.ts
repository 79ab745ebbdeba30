import { isDatabaseUnavailable } from '../../../src/http/app';

/** Which failures callers see as 503 UNAVAILABLE rather than 500 INTERNAL (src/http/app.ts). */
describe('isDatabaseUnavailable', () => {
  it.each([
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['a server shutting down', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
    ['a vanished Unix socket', Object.assign(new Error('connect ENOENT /tmp/.s.PGSQL.5432'), { code: 'ENOENT', syscall: 'connect' })],
    ["pg's connect timeout", new Error('timeout expired')],
    ['a terminated connection', new Error('Connection terminated unexpectedly')],
    ["knex's pool timeout", Object.assign(new Error('Knex: Timeout acquiring a connection.'), { name: 'KnexTimeoutError' })],
  ])('%s is unavailability', (_label, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ['a unique violation', Object.assign(new Error('duplicate key value'), { code: '23505' })],
    ['a syntax error', Object.assign(new Error('syntax error at or near'), { code: '42601' })],
    ['a missing file that is not a connect', Object.assign(new Error('ENOENT'), { code: 'ENOENT', syscall: 'open' })],
    ['not an object', 'timeout expired'],
  ])('%s is not', (_label, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});
