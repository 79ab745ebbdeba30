import { Writable } from 'node:stream';
import { SERIAL_MAX } from '../../src/db/repositories/notices';
import { ManualClock } from '../../src/domain/clock';
import { createLogger } from '../../src/logger';
import { SERIAL_HEADROOM_WARN_INTERVAL_MS, SerialHeadroomMonitor, serialHeadroomRatio } from '../../src/services/serialHeadroom';

describe('payCode serial headroom', () => {
  it('is the share of serials left', () => {
    expect(serialHeadroomRatio('0')).toBe(1);
    expect(serialHeadroomRatio(String(SERIAL_MAX))).toBe(0);
    expect(serialHeadroomRatio('899999999')).toBeCloseTo(0.1, 9);
  });

  it('warns below 10 % per (region, year, type), at most once per interval', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString('utf8'));
        callback();
      },
    });
    const clock = new ManualClock(new Date('2026-12-01T00:00:00Z'));
    const monitor = new SerialHeadroomMonitor({ log: createLogger('info', stream), realClock: clock });
    const triple = { regionCode: '150102', year2: '26', kind: '1' };
    monitor.observe(triple, '899999998'); // 10 % left: quiet
    monitor.observe(triple, '900000001');
    monitor.observe(triple, '900000002'); // within the interval: quiet
    monitor.observe({ ...triple, kind: '2' }, '950000000');
    clock.advance(SERIAL_HEADROOM_WARN_INTERVAL_MS);
    monitor.observe(triple, '900000003');
    await new Promise((resolve) => setImmediate(resolve));
    const warnings = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(warnings.map((warning) => [warning.level, warning.noticeType, warning.lastSerial])).toEqual([
      ['warn', '1', '900000001'],
      ['warn', '2', '950000000'],
      ['warn', '1', '900000003'],
    ]);
    expect(warnings[0]).toMatchObject({ regionCode: '150102', year2: '26', msg: expect.stringContaining('running out') });
  });
});
