import type { Clock } from '../domain/clock';
import type { Logger } from '../logger';
import type { Queryable } from '../db/database';
import { listSerialSequences, SERIAL_MAX } from '../db/repositories/notices';

/**
 * The headroom of the payCode serial sequences (docs/payment-code.md: 9-digit serials per region, year
 * and kind, never reused): the share of serials still free. Below 10 % a sequence warns, so an
 * operator has time to act before a (region, year, kind) can issue no more notices
 * (contracts/decisions/0058-pay-code-serials-drawn-last.md). The same figure is exported as the
 * metric tongfu_pay_code_serial_headroom_ratio (src/http/metrics.ts), read from the sequences.
 */
export const SERIAL_HEADROOM_WARN_RATIO = 0.1;
/** One warning per (region, year, kind) per process at most this often. */
export const SERIAL_HEADROOM_WARN_INTERVAL_MS = 10 * 60_000;

export interface SerialTriple {
  regionCode: string;
  year2: string;
  kind: string;
}

/** The share of serials left after `lastSerial` was drawn: 1 for a fresh sequence, 0 when used up. */
export function serialHeadroomRatio(lastSerial: string | number | bigint): number {
  const used = BigInt(lastSerial);
  const max = BigInt(SERIAL_MAX);
  const left = used >= max ? 0n : max - used;
  // Both below 2^30: exact as numbers.
  return Number(left) / Number(max);
}

export class SerialHeadroomMonitor {
  private readonly lastWarnedMs = new Map<string, number>();

  constructor(private readonly deps: { log: Logger; realClock: Clock }) {}

  /** Called with each serial drawn; warns when the triple's headroom is below 10 %. */
  observe(triple: SerialTriple, serial: string): void {
    const ratio = serialHeadroomRatio(serial);
    if (ratio >= SERIAL_HEADROOM_WARN_RATIO) return;
    const key = `${triple.regionCode}/${triple.year2}/${triple.kind}`;
    const nowMs = this.deps.realClock.now().getTime();
    const last = this.lastWarnedMs.get(key);
    if (last !== undefined && nowMs - last < SERIAL_HEADROOM_WARN_INTERVAL_MS) return;
    this.lastWarnedMs.set(key, nowMs);
    this.deps.log.warn(
      { regionCode: triple.regionCode, year2: triple.year2, noticeType: triple.kind, lastSerial: serial, serialMax: SERIAL_MAX, headroomRatio: ratio },
      'payCode serials are running out for this region, year and notice type (less than 10% left)',
    );
  }
}

/** Every payCode serial sequence with the share of its serials still free (the metric's reading). */
export async function serialHeadrooms(db: Queryable): Promise<Array<{ regionCode: string; year2: string; kind: string; ratio: number }>> {
  return (await listSerialSequences(db)).map((sequence) => ({ regionCode: sequence.regionCode, year2: sequence.year2, kind: sequence.kind, ratio: serialHeadroomRatio(sequence.lastSerial) }));
}
