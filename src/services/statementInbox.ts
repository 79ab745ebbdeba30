import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isValidDate } from '../domain/businessDate';
import { type ErrorCode, TongfuError } from '../domain/errors';
import { parseFileSeq, type StatementFormat, type StatementProblem } from '../domain/statementFormats';
import type { Logger } from '../logger';
import type { StatementService } from './statements';

/**
 * The statement inbox (docs/reconciliation.md §1; contracts/decisions/0100-statement-files.md):
 * `{TONGFU_DATA_DIR}/inbox/statements/{agencyCode}_{YYYYMMDD}_{fileSeq}.txt` (TFS1) or `.csv`
 * (APPBILL), the SFTP-style route banks use. The reconcile job calls `loadInbox` at its start.
 *
 * Each file goes through the same load as an upload (`StatementService.load`, source `INBOX`):
 * accepted (or a replay of an accepted file) → moved to `done/`; refused → moved to `rejected/`
 * beside `<name>.report.json`, which names the error and each problem with its line number. A
 * badly named file, or one for an unknown or disabled agency, is refused the same way.
 *
 * Safe to run twice at once and after a crash: a file leaves the inbox only after its load has
 * committed (or been refused), by `rename` (atomic within the directory tree); a file still in
 * the inbox is simply loaded again, and the load is idempotent by SHA-256 (a replay answers the
 * statement already accepted). Two instances loading one file serialise on the (agency, date)
 * lock; the second sees the replay, and whichever moves the file second finds it gone, which is
 * fine. Files still being written by their sender are left alone: dot files and names ending in
 * `.tmp`, `.part` or `.filepart` (the conventions of SFTP clients), as is anything not a regular
 * file.
 */

export const INBOX_SUBDIRECTORY = path.join('inbox', 'statements');
const FILE_NAME_PATTERN = /^([A-Za-z0-9_-]{1,64})_(\d{4})(\d{2})(\d{2})_([0-9]{1,10})\.(txt|csv)$/;
const IN_PROGRESS_PATTERN = /(^\.|\.(tmp|part|filepart)$)/i;

export interface InboxOptions {
  /** TONGFU_DATA_DIR (config.dataDir). */
  dataDir: string;
  log: Logger;
  /** Ask for the reconcile run of each accepted file's date (default true). */
  requestRun?: boolean;
}

export interface InboxFileOutcome {
  /** The file's name in the inbox. */
  file: string;
  outcome: 'ACCEPTED' | 'REPLAYED' | 'REJECTED' | 'FAILED';
  agencyCode?: string;
  businessDate?: string;
  statementId?: string;
  /** REJECTED: the error code; FAILED: what went wrong (the file stays for the next run). */
  code?: ErrorCode;
  message?: string;
  problems?: StatementProblem[];
}

/** The report written beside a rejected file. */
export interface InboxReport {
  file: string;
  rejectedAt: string;
  code: ErrorCode;
  message: string;
  /** Each problem with its line number (line 0: the file as a whole, e.g. its name). */
  problems: StatementProblem[];
  details?: Record<string, unknown>;
}

interface ParsedName {
  agencyCode: string;
  businessDate: string;
  fileSeq: number;
  format: StatementFormat;
}

/** `{agencyCode}_{YYYYMMDD}_{fileSeq}.txt|.csv`, or why not. */
export function parseInboxFileName(name: string): ParsedName | string {
  const match = FILE_NAME_PATTERN.exec(name);
  if (!match) return 'the name is not {agencyCode}_{YYYYMMDD}_{fileSeq}.txt (TFS1) or .csv (APPBILL)';
  const [, agencyCode = '', year = '', month = '', day = '', seqText = '', extension = ''] = match;
  const businessDate = `${year}-${month}-${day}`;
  if (!isValidDate(businessDate)) return `the name's date ${year}${month}${day} is not a real day`;
  // SFTP senders often pad the sequence (`_001`): the name's digits are the number, the header's
  // `fileSeq` (written without zeros) must still agree with it.
  const fileSeq = parseFileSeq(seqText.replace(/^0+(?=[0-9])/, ''));
  if (fileSeq === null) return `the name's fileSeq ${seqText} is not an integer from 1 to 2147483647`;
  return { agencyCode, businessDate, fileSeq, format: extension === 'csv' ? 'APPBILL' : 'TFS1' };
}

async function hashFile(filePath: string): Promise<{ sha256Hex: string; sizeBytes: number }> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of fs.createReadStream(filePath) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    sizeBytes += chunk.length;
  }
  return { sha256Hex: hash.digest('hex'), sizeBytes };
}

/** Moves `from` into `directory` under its name (or the name and a timestamp if taken); a file already gone is fine. */
async function moveInto(from: string, directory: string, name: string, now: Date): Promise<string | undefined> {
  await fs.promises.mkdir(directory, { recursive: true });
  let target = path.join(directory, name);
  if (fs.existsSync(target)) target = path.join(directory, `${name}.${now.getTime()}`);
  try {
    await fs.promises.rename(from, target);
    return target;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function writeReport(directory: string, name: string, report: InboxReport): Promise<void> {
  await fs.promises.mkdir(directory, { recursive: true });
  const target = path.join(directory, `${name}.report.json`);
  const temporary = `${target}.${process.pid}.tmp`;
  await fs.promises.writeFile(temporary, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o640 });
  await fs.promises.rename(temporary, target);
}

/**
 * Loads every statement file waiting in `{dataDir}/inbox/statements/`, oldest name first, and
 * answers what became of each. Never throws for one file's problem: a refused file is moved to
 * `rejected/` with its report; a file whose load failed for another reason (the database is
 * unreachable) stays in the inbox for the next run and is answered `FAILED`.
 */
export async function loadInbox(statements: StatementService, options: InboxOptions): Promise<InboxFileOutcome[]> {
  const inbox = path.join(options.dataDir, INBOX_SUBDIRECTORY);
  const doneDir = path.join(inbox, 'done');
  const rejectedDir = path.join(inbox, 'rejected');
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(inbox, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const names = entries.filter((entry) => entry.isFile() && !IN_PROGRESS_PATTERN.test(entry.name)).map((entry) => entry.name).sort();
  const outcomes: InboxFileOutcome[] = [];
  for (const name of names) {
    const filePath = path.join(inbox, name);
    const log = options.log.child({ inboxFile: name });
    const reject = async (code: ErrorCode, message: string, problems: StatementProblem[], details?: Record<string, unknown>, known?: Partial<InboxFileOutcome>): Promise<void> => {
      const now = new Date();
      await writeReport(rejectedDir, name, { file: name, rejectedAt: now.toISOString(), code, message, problems, ...(details ? { details } : {}) });
      await moveInto(filePath, rejectedDir, name, now);
      log.warn({ code, problems: problems.length }, 'inbox statement rejected');
      outcomes.push({ file: name, outcome: 'REJECTED', code, message, problems, ...known });
    };
    try {
      const parsedName = parseInboxFileName(name);
      if (typeof parsedName === 'string') {
        await reject('VALIDATION_FAILED', parsedName, [{ lineNo: 0, problem: parsedName }]);
        continue;
      }
      const known = { agencyCode: parsedName.agencyCode, businessDate: parsedName.businessDate };
      const agency = await statements.activeAgency(parsedName.agencyCode);
      if (!agency) {
        const problem = `no active agency has the code ${parsedName.agencyCode}`;
        await reject('VALIDATION_FAILED', problem, [{ lineNo: 0, problem }], undefined, known);
        continue;
      }
      let digest: { sha256Hex: string; sizeBytes: number };
      try {
        digest = await hashFile(filePath);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // another instance took it
        throw error;
      }
      try {
        const loaded = await statements.load(
          {
            agency,
            format: parsedName.format,
            businessDate: parsedName.businessDate,
            fileSeq: parsedName.fileSeq,
            file: { open: () => fs.createReadStream(filePath), ...digest },
            source: 'INBOX',
            requestedBy: 'inbox',
            ...(options.requestRun === false ? { requestRun: false } : {}),
          },
          log,
        );
        await moveInto(filePath, doneDir, name, new Date());
        outcomes.push({ file: name, outcome: loaded.replay ? 'REPLAYED' : 'ACCEPTED', ...known, statementId: loaded.statement.statementId });
      } catch (error) {
        if (!(error instanceof TongfuError)) throw error;
        const details = error.details ?? {};
        const lines = Array.isArray(details.lines) ? (details.lines as StatementProblem[]) : typeof details.lineNo === 'number' ? (details.problems as string[] | undefined ?? [error.message]).map((problem) => ({ lineNo: details.lineNo as number, problem })) : [{ lineNo: 0, problem: error.message }];
        await reject(error.code, error.message, lines, details, known);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      log.error({ err: error }, 'inbox statement could not be loaded; it stays in the inbox for the next run');
      outcomes.push({ file: name, outcome: 'FAILED', message: (error as Error).message });
    }
  }
  return outcomes;
}
