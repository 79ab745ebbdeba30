import type { Queryable } from '../db/database';
import { insertJobRequest, type JobRequestRow } from '../db/repositories/jobRequests';
import { isValidDate } from '../domain/businessDate';
import { assert } from '../domain/errors';

export { lockAgencyDateInTransaction, withAgencyDateLock } from '../db/repositories/agencyDateLocks';

/** A run of a job on one (agency, business date, statement) that a request asks for. */
export interface JobRunRequest {
  /** The job's name (e.g. `reconcile`). */
  job: string;
  agencyCode: string;
  businessDate: string;
  /** The statement the run works on, if any: one run per statement. */
  statementId?: string;
  /** Who asked (the uploading party's appId), for the record. */
  requestedBy?: string;
  /** When, on the real clock. */
  requestedAt: Date;
}

/**
 * Asks the process that runs jobs to run `job` (docs/operations.md §4), in the caller's
 * transaction `trx`: the request exists, and wakes that process, only if the caller commits.
 * Idempotent per (job, agency, date, statement): asking again returns the first request.
 */
export async function requestJobRun(trx: Queryable, request: JobRunRequest): Promise<{ requestId: string; created: boolean; status: JobRequestRow['status'] }> {
  assert(isValidDate(request.businessDate), `a job request's business date is a date, got ${request.businessDate}`);
  const { request: row, created } = await insertJobRequest(trx, {
    job: request.job,
    agencyCode: request.agencyCode,
    businessDate: request.businessDate,
    statementId: request.statementId ?? null,
    requestedBy: request.requestedBy ?? null,
    requestedAt: request.requestedAt,
  });
  return { requestId: row.id, created, status: row.status };
}
