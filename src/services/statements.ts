import { randomBase64Url } from '../crypto/randomIds';
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import { BinaryCopyWriter } from '../db/copyBinary';
import { type Db, useBulkWorkMem } from '../db/database';
import { lockAgencyDateInTransaction } from '../db/repositories/agencyDateLocks';
import * as repo from '../db/repositories/agencyStatements';
import { findPartyByRoleCode } from '../db/repositories/parties';
import { formatInstant, shanghaiDate } from '../domain/businessDate';
import { DuplicateKeyScreen } from '../domain/duplicateKeyScreen';
import type { Clocks } from '../domain/clock';
import { assert, TongfuError } from '../domain/errors';
import { STATEMENT_PROBLEMS_MAX, type StatementFormat, type StatementHeader, type StatementParseResult, StatementParser, type StatementProblem, type StatementTrailer } from '../domain/statementFormats';
import type { Logger } from '../logger';
import { requestJobRun } from './jobRequests';

/**
 * Agency statements (docs/reconciliation.md §1; contracts/decisions/0100-statement-files.md):
 * one way in for an uploaded file and a file from the inbox. The file is read twice at most —
 * once for its header (replay, closed date, sequence), once streamed through the format's
 * parser into the COPY of its lines — and accepted or refused as a unit in one transaction that
 * holds the (agency, business date) lock (a refused file's lines roll back with it,
 * contracts/decisions/0161-statement-lines-copied-in-place.md). On acceptance the same transaction asks for the
 * `reconcile` run of that date.
 */

/** The job an accepted statement asks for (docs/operations.md §4). */
export const RECONCILE_JOB = 'reconcile';
/** How long one load's statements may take (a 1,000,000-line file takes seconds; the pool's 60 s is for requests). */
const LOAD_STATEMENT_TIMEOUT = '15min';

export interface StatementDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
}

/** The file: a way to read it from the start, its SHA-256 and size. */
export interface StatementFile {
  open(): NodeJS.ReadableStream;
  sha256Hex: string;
  sizeBytes: number;
}

export interface LoadStatementInput {
  agency: { partyId: string; code: string };
  format: StatementFormat;
  /** APPBILL: required (query string or inbox name). TFS1: optional; the header must agree. */
  businessDate?: string;
  fileSeq?: number;
  file: StatementFile;
  source: 'UPLOAD' | 'INBOX';
  /** Who asked, for the job request (the uploader's appId, or `inbox`). */
  requestedBy: string;
  /** Ask for the reconcile run of the date on acceptance (default true). */
  requestRun?: boolean;
}

/** The `201` body of an accepted statement (contracts/openapi/32-agency-statements.yaml). */
export interface AcceptedStatement {
  statementId: string;
  agencyCode: string;
  businessDate: string;
  fileSeq: number;
  format: StatementFormat;
  payCount: number;
  payTotal: string;
  refundCount: number;
  refundTotal: string;
  sha256: string;
  status: 'ACCEPTED';
}

/** A statement as GET shows it: the accepted body, where it came from, and whether it is still current. */
export interface StatementView extends Omit<AcceptedStatement, 'status'> {
  status: 'ACCEPTED' | 'SUPERSEDED';
  source: 'UPLOAD' | 'INBOX';
  sizeBytes: number;
  receivedAt: string;
  supersededBy: string | null;
}

export interface LoadedStatement {
  statement: AcceptedStatement;
  /** The same file was accepted before: nothing new was written. */
  replay: boolean;
  /** Row id, for the job request and other helpers. */
  rowId: string;
}

function newStatementId(realNow: Date): string {
  return `S${realNow.getTime().toString(36).padStart(9, '0')}${randomBase64Url(9)}`;
}

export function acceptedBody(row: repo.AgencyStatementRow): AcceptedStatement {
  return {
    statementId: row.statement_id,
    agencyCode: row.agency_code,
    businessDate: row.business_date,
    fileSeq: row.file_seq,
    format: row.format,
    payCount: row.pay_count,
    payTotal: row.pay_total,
    refundCount: row.refund_count,
    refundTotal: row.refund_total,
    sha256: row.sha256,
    status: 'ACCEPTED',
  };
}

function malformed(problems: StatementProblem[], problemCount: number): TongfuError {
  const listed = problems.slice(0, STATEMENT_PROBLEMS_MAX);
  const first = listed[0];
  return new TongfuError('STATEMENT_MALFORMED', `the statement has ${problemCount} problem${problemCount === 1 ? '' : 's'}${first ? `; the first, line ${first.lineNo}: ${first.problem}` : ''}`, { lines: listed, problemCount });
}

export class StatementService {
  constructor(private readonly deps: StatementDependencies) {}

  /**
   * Loads one statement file: validates it whole, then accepts it (201), answers a replay, or
   * refuses it with STATEMENT_MALFORMED, STATEMENT_TOTALS_MISMATCH, STATEMENT_SEQ_NOT_HIGHER,
   * BUSINESS_DATE_CLOSED or VALIDATION_FAILED (APPBILL without its date or sequence, or a date in
   * the future). Nothing is written for a refused file.
   */
  async load(input: LoadStatementInput, log: Logger = this.deps.log): Promise<LoadedStatement> {
    const now = this.deps.clocks.business.now();
    const today = shanghaiDate(now);
    if (input.format === 'APPBILL') {
      if (input.businessDate === undefined || input.fileSeq === undefined) {
        throw new TongfuError('VALIDATION_FAILED', 'an APPBILL statement needs businessDate and fileSeq beside it (query string)', { fields: [{ path: '/query', problem: 'format=APPBILL needs businessDate and fileSeq' }] });
      }
      if (input.businessDate > today) {
        throw new TongfuError('VALIDATION_FAILED', `businessDate ${input.businessDate} is in the future (today is ${today})`, { fields: [{ path: '/query/businessDate', problem: `is in the future (today is ${today})` }] });
      }
    }
    const expectations = { format: input.format, agencyCode: input.agency.code, today, now, ...(input.businessDate !== undefined ? { businessDate: input.businessDate } : {}), ...(input.fileSeq !== undefined ? { fileSeq: input.fileSeq } : {}) };
    const header = input.format === 'APPBILL' ? { businessDate: input.businessDate as string, fileSeq: input.fileSeq as number } : await this.peekHeader(input.file, expectations);

    if (header !== null) {
      // The fast path of a replay: no lock, no parse.
      const earlier = await repo.findStatementBySha(this.deps.db, input.agency.partyId, header.businessDate, input.file.sha256Hex);
      if (earlier) return { statement: acceptedBody(earlier), replay: true, rowId: earlier.id };
    }

    return this.deps.db.transaction(async (trx) => {
      await trx.raw(`SET LOCAL statement_timeout = '${LOAD_STATEMENT_TIMEOUT}'`);
      // The exact duplicate check, when the parse's screen sends it (decision 0183), hashes every
      // (kind, agencyTxnId) of the file: with the server's default 4 MB a million-line file spilled
      // to disk in 21 batches (decision 0180).
      await useBulkWorkMem(trx);
      let current: repo.AgencyStatementRow | undefined;
      if (header !== null) {
        await lockAgencyDateInTransaction(trx, input.agency.code, header.businessDate);
        const earlier = await repo.findStatementBySha(trx, input.agency.partyId, header.businessDate, input.file.sha256Hex);
        if (earlier) return { statement: acceptedBody(earlier), replay: true, rowId: earlier.id };
        if (await repo.isBusinessDateClosed(trx, header.businessDate)) {
          throw new TongfuError('BUSINESS_DATE_CLOSED', `business date ${header.businessDate} is closed: its statements can no longer change`, { businessDate: header.businessDate });
        }
        current = await repo.findCurrentStatement(trx, input.agency.partyId, header.businessDate);
        if (current && header.fileSeq <= current.file_seq) {
          throw new TongfuError('STATEMENT_SEQ_NOT_HIGHER', `fileSeq ${header.fileSeq} is not higher than the current statement's ${current.file_seq} for ${header.businessDate}`, { currentFileSeq: current.file_seq, currentStatementId: current.statement_id });
        }
      }

      // Validate while copying the lines in under the statement's row id, then the set-based
      // checks; a refusal rolls the lines back.
      const startedMs = performance.now();
      const rowId = await repo.nextStatementRowId(trx);
      const { parsed, copied, toLookUp, keys } = await this.copyLines(trx, rowId, input.file, expectations);
      const stagedMs = performance.now();
      const problems: StatementProblem[] = [...parsed.problems];
      let problemCount = parsed.problemCount;
      // The exact check, which names each duplicate's line, only when the parse's screen saw two
      // equal key hashes (decision 0183): usually none, and no query.
      const duplicates = keys.mayHaveDuplicates() ? await repo.loadedDuplicates(trx, rowId, STATEMENT_PROBLEMS_MAX) : [];
      for (const dup of duplicates) problems.push({ lineNo: dup.line_no, problem: `${dup.kind === 'PAY' ? 'agencyTxnId' : 'agencyRefundRef'} ${dup.agency_txn_id} is already on line ${dup.first_line_no}` });
      // Only when the parser saw a payCode that is not a valid one (usually none: no query then).
      const unknownCodes = toLookUp > 0 ? await repo.loadedUnknownPayCodes(trx, rowId, input.agency.partyId, STATEMENT_PROBLEMS_MAX) : [];
      for (const line of unknownCodes) problems.push({ lineNo: line.line_no, problem: `payCode ${line.pay_code} is neither a valid 20-digit payCode nor the posted code of an UNAPPLIED payment of this agency` });
      problemCount += duplicates.length + unknownCodes.length;
      const checkedMs = performance.now();
      if (problemCount > 0) {
        problems.sort((a, b) => a.lineNo - b.lineNo);
        throw malformed(problems, problemCount);
      }
      if (parsed.totalsMismatch) {
        throw new TongfuError('STATEMENT_TOTALS_MISMATCH', `the trailer (line ${parsed.totalsMismatch.lineNo}) does not equal the lines: ${parsed.totalsMismatch.problems.join('; ')}`, {
          lineNo: parsed.totalsMismatch.lineNo,
          problems: parsed.totalsMismatch.problems,
          trailer: parsed.trailer,
          lines: parsed.totals,
        });
      }
      const accepted = parsed.header;
      assert(accepted !== null && parsed.trailer !== null, 'a file without problems has its header and trailer');
      assert(header !== null && header.businessDate === accepted.businessDate && header.fileSeq === accepted.fileSeq, 'the full parse read the header the peek read');
      const timings = { copyMs: Math.round(stagedMs - startedMs), checkMs: Math.round(checkedMs - stagedMs) };
      assert(copied === parsed.totals.payCount + parsed.totals.refundCount, `all ${parsed.totals.payCount + parsed.totals.refundCount} lines were copied, got ${copied}`);
      return this.accept(trx, rowId, input, accepted, parsed.totals, current, log, timings);
    });
  }

  /** An active agency by its code (the inbox's file names carry it), or undefined. */
  async activeAgency(code: string): Promise<{ partyId: string; code: string } | undefined> {
    const party = await findPartyByRoleCode(this.deps.db, 'agency', code);
    return party && party.status === 'ACTIVE' ? { partyId: party.id, code: party.code } : undefined;
  }

  /** GET /v1/agency/statements/{statementId}: the agency's own statement, else NOT_FOUND. */
  async get(agencyPartyId: string, statementId: string): Promise<StatementView> {
    const row = await repo.findStatementByPublicId(this.deps.db, statementId);
    if (!row || row.agency_party_id !== agencyPartyId) throw new TongfuError('NOT_FOUND', `no statement ${statementId}`);
    const supersededBy = row.superseded_by === null ? null : ((await repo.statementPublicIds(this.deps.db, [row.superseded_by])).get(row.superseded_by) ?? null);
    return {
      ...acceptedBody(row),
      status: supersededBy === null ? 'ACCEPTED' : 'SUPERSEDED',
      source: row.source,
      sizeBytes: Number(row.size_bytes),
      receivedAt: formatInstant(row.received_at),
      supersededBy,
    };
  }

  private async accept(trx: Knex.Transaction, rowId: string, input: LoadStatementInput, header: StatementHeader, totals: StatementTrailer, current: repo.AgencyStatementRow | undefined, log: Logger, timings: Record<string, number>): Promise<LoadedStatement> {
    const realNow = this.deps.clocks.real.now();
    const statementId = newStatementId(realNow);
    if (current) {
      // The new row does not exist yet when the old one names it: the foreign key is checked at
      // commit (migration 20261202001000), the one-current-per-date index at once.
      await repo.deferSupersededByCheck(trx);
      await repo.supersedeStatement(trx, current.id, rowId, realNow);
    }
    const row = await repo.insertStatement(trx, {
      id: rowId,
      statement_id: statementId,
      agency_party_id: input.agency.partyId,
      agency_code: input.agency.code,
      business_date: header.businessDate,
      file_seq: header.fileSeq,
      format: input.format,
      source: input.source,
      sha256: input.file.sha256Hex,
      size_bytes: String(input.file.sizeBytes),
      pay_count: totals.payCount,
      pay_total: totals.payTotal,
      refund_count: totals.refundCount,
      refund_total: totals.refundTotal,
      generated_at: header.generatedAt,
      received_at: realNow,
    });
    const lineCount = totals.payCount + totals.refundCount;
    if (input.requestRun !== false) {
      await requestJobRun(trx, { job: RECONCILE_JOB, agencyCode: input.agency.code, businessDate: header.businessDate, statementId, requestedBy: input.requestedBy, requestedAt: realNow });
    }
    log.info({ statementId, agencyCode: input.agency.code, businessDate: header.businessDate, fileSeq: header.fileSeq, format: input.format, source: input.source, lines: lineCount, superseded: current?.statement_id, ...timings }, 'statement accepted');
    return { statement: acceptedBody(row), replay: false, rowId: row.id };
  }

  /** TFS1: the header of the file (its first line), or null when it is not a valid header. */
  private async peekHeader(file: StatementFile, expectations: ConstructorParameters<typeof StatementParser>[0]): Promise<{ businessDate: string; fileSeq: number } | null> {
    const parser = new StatementParser(expectations, () => undefined);
    const stream = file.open();
    let seen = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const newline = chunk.indexOf(0x0a);
        parser.push(newline === -1 ? chunk : chunk.subarray(0, newline + 1));
        seen += chunk.length;
        if (newline !== -1 || seen > 8192) break;
      }
    } finally {
      (stream as unknown as Readable).destroy();
    }
    const header = parser.headerSoFar();
    return header === null ? null : { businessDate: header.businessDate, fileSeq: header.fileSeq };
  }

  /**
   * Streams the file through the parser into the COPY of its lines (statement `rowId`); answers the
   * parse, the rows copied, how many PAY lines carry a payCode to look up (not a valid one), and
   * the screen of the lines' keys for duplicates.
   */
  private async copyLines(
    trx: Knex.Transaction,
    rowId: string,
    file: StatementFile,
    expectations: ConstructorParameters<typeof StatementParser>[0],
  ): Promise<{ parsed: StatementParseResult; copied: number; toLookUp: number; keys: DuplicateKeyScreen }> {
    let toLookUp = 0;
    const keys = new DuplicateKeyScreen();
    const statementRowId = Number(rowId);
    // Binary COPY rows (decision 0234): PostgreSQL parses no text per line.
    const rows = new BinaryCopyWriter();
    const parser = new StatementParser(expectations, (line) => {
      if (line.payCodeToLookUp) toLookUp += 1;
      keys.add(line.kind, line.agencyTxnId);
      repo.writeLineCopyRow(rows, statementRowId, line);
    });
    const source = file.open() as AsyncIterable<Buffer>;
    let parsed: StatementParseResult | null = null;
    async function* copyRows(): AsyncGenerator<Buffer> {
      for await (const chunk of source) {
        parser.push(chunk);
        const ready = rows.take();
        if (ready !== null) yield ready;
      }
      // The last line, if it had no line ending, is emitted by finish: it is copied too.
      parsed = parser.finish();
      const last = rows.take();
      if (last !== null) yield last;
    }
    const copied = await repo.copyLines(trx, copyRows());
    assert(parsed !== null, 'the parse finished with the file');
    return { parsed, copied, toLookUp, keys };
  }
}
