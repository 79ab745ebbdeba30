/**
 * A process that starts a job run and never finishes it, so a test can SIGKILL it mid-run —
 * a real crash: the lock connection dies with the process and the job_runs row stays RUNNING.
 *
 *   node scripts/run.js test/helpers/jobCrashChild.ts <connectionString> <slot ISO> [batched]
 */
import pino from 'pino';
import { createDb } from '../../src/db/database';
import { systemClock } from '../../src/domain/clock';
import { JobRunner } from '../../src/jobs/runner';
import { batchedJob, crashableJob } from './testJobs';

const [connectionString, slotIso, kind] = process.argv.slice(2) as [string, string, string | undefined];
const db = createDb({ connectionString, poolMax: 2 });
const runner = new JobRunner({ db, connectionString, clocks: { real: systemClock, business: systemClock }, log: pino({ level: 'silent' }) });
// `batched`: three batches of 3 commit with their progress, then the run hangs.
const job = kind === 'batched' ? batchedJob({ batchSize: 3, hangAfterBatches: 3 }) : crashableJob({ hang: true });
void runner.run({ job, trigger: 'SCHEDULE', scheduledFor: new Date(slotIso) });
