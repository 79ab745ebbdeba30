import type { Queryable } from '../database';

/**
 * The job request queue (migration 20261201000401, docs/operations.md §4). A request inserts a
 * row in its own transaction and notifies the channel, which PostgreSQL delivers only when that
 * transaction commits; the process that runs jobs claims rows with FOR UPDATE SKIP LOCKED.
 */

/** The LISTEN/NOTIFY channel that wakes the process that runs jobs. */
export const JOB_REQUESTS_CHANNEL = 'tongfu_job_requests';

export type JobRequestStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';

export interface JobRequestRow {
  id: string;
  job: string;
  agency_code: string;
  business_date: string;
  statement_id: string | null;
  trigger: 'UPLOAD';
  status: JobRequestStatus;
  requested_by: string | null;
  requested_at: Date;
  job_run_id: string | null;
  finished_at: Date | null;
  error: string | null;
}

export interface NewJobRequest {
  job: string;
  agencyCode: string;
  businessDate: string;
  statementId: string | null;
  requestedBy: string | null;
  requestedAt: Date;
}

/**
 * Inserts the request unless the same (job, agency, date, statement) was requested before, and
 * notifies the channel. Returns the request and whether this call created it.
 */
export async function insertJobRequest(db: Queryable, request: NewJobRequest): Promise<{ request: JobRequestRow; created: boolean }> {
  const key = { job: request.job, agency_code: request.agencyCode, business_date: request.businessDate, statement_id: request.statementId };
  const inserted = await db('job_requests')
    .insert({ ...key, trigger: 'UPLOAD', status: 'PENDING', requested_by: request.requestedBy, requested_at: request.requestedAt })
    .onConflict(['job', 'agency_code', 'business_date', 'statement_id'])
    .ignore()
    .returning<JobRequestRow[]>('*');
  if (inserted[0]) {
    await db.raw('SELECT pg_notify(?, ?)', [JOB_REQUESTS_CHANNEL, inserted[0].id]);
    return { request: inserted[0], created: true };
  }
  // NULLS NOT DISTINCT: a request without a statement matches one without a statement.
  const existing = await db('job_requests')
    .where({ job: key.job, agency_code: key.agency_code, business_date: key.business_date })
    .where((query) => (key.statement_id === null ? query.whereNull('statement_id') : query.where({ statement_id: key.statement_id })))
    .first<JobRequestRow | undefined>();
  if (!existing) throw new Error(`job request ${request.job}/${request.agencyCode}/${request.businessDate} conflicted but cannot be read`);
  return { request: existing, created: false };
}

/**
 * The oldest pending request no other transaction holds, locked until `trx` ends. A crash ends
 * the transaction, so a claimed request that was not finished is pending again.
 */
export async function claimPendingJobRequest(trx: Queryable): Promise<JobRequestRow | undefined> {
  return trx('job_requests').where({ status: 'PENDING' }).orderBy('id').forUpdate().skipLocked().first<JobRequestRow | undefined>();
}

export async function finishJobRequest(trx: Queryable, id: string, finish: { status: 'SUCCEEDED' | 'FAILED'; jobRunId: string | null; error: string | null; finishedAt: Date }): Promise<void> {
  await trx('job_requests').where({ id, status: 'PENDING' }).update({ status: finish.status, job_run_id: finish.jobRunId, error: finish.error, finished_at: finish.finishedAt });
}
