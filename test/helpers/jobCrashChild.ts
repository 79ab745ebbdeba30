/**
 * A process that starts a job run and never finishes it, so a test can SIGKILL it mid-run —
 * a real crash: the lock connection dies with the process and the job_runs row stays RUNNING.
 */
import pino from 'pino';
import { createDb } from '../../src/db/database';
import { systemClock } from '../../src/domain/clock';
import { JobRunner } from '../../src/jobs/runner';
import { crashableJob } from './testJobs';

const [connectionString, slotIso] = process.argv.slice(2) as [string, string];
const db = createDb({ connectionString, poolMax: 2 });
const runner = new JobRunner({ db, connectionString, clocks: { real: systemClock, business: systemClock }, log: pino({ level: 'silent' }) });
void runner.run({ job: crashableJob({ hang: true }), trigger: 'SCHEDULE', scheduledFor: new Date(slotIso) });
