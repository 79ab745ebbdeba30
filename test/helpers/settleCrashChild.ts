/**
 * A process that runs the settle job's work and stops inside its transaction — every instruction
 * written, nothing committed — so a test can SIGKILL it there: a real crash mid-settle.
 *
 *   node scripts/run.js test/helpers/settleCrashChild.ts <connectionString> <upTo> <business instant ISO>
 */
import pino from 'pino';
import type { FieldCipher } from '../../src/crypto/fieldCipher';
import { createDb } from '../../src/db/database';
import { fixedClock, systemClock } from '../../src/domain/clock';
import { InstructionService } from '../../src/services/instructions';

const [connectionString, upTo, businessIso] = process.argv.slice(2) as [string, string, string];
const db = createDb({ connectionString, poolMax: 2 });
const service = new InstructionService({ db, clocks: { business: fixedClock(new Date(businessIso)), real: systemClock }, log: pino({ level: 'silent' }), fieldCipher: undefined as unknown as FieldCipher });
void service.settle(upTo, async () => {
  process.stdout.write('written\n');
  await new Promise(() => undefined);
});
