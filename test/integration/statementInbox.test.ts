import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadInbox } from '../../src/services/statementInbox';
import { addAgency, buildWorld, World } from '../helpers/builders';
import { shanghai } from '../helpers/payments';
import { appbill, payLine, refundLine, tfs1 } from '../helpers/statementFiles';
import { startTestService, TestService } from '../helpers/testService';

/**
 * The statement inbox (docs/reconciliation.md §1, contracts/decisions/0100-statement-files.md):
 * accepted files move to done/, refused ones to rejected/ beside a report with line numbers;
 * loading again (a second instance, a crash before the move) is idempotent.
 */

let service: TestService;
let world: World;
let dataDir: string;
const log = pino({ level: 'silent' });

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-12-02T09:00:00')) });
  world = await buildWorld(service);
});

beforeEach(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-inbox-'));
  fs.mkdirSync(path.join(dataDir, 'inbox', 'statements'), { recursive: true });
});

afterEach(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

afterAll(async () => {
  await service.close();
});

function drop(name: string, text: string): void {
  fs.writeFileSync(path.join(dataDir, 'inbox', 'statements', name), text);
}

function listing(sub = ''): string[] {
  const dir = path.join(dataDir, 'inbox', 'statements', sub);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => fs.statSync(path.join(dir, n)).isFile()).sort() : [];
}

it('loads TFS1 and APPBILL files, moves them to done/, and asks for their runs', async () => {
  const agency = await addAgency(world);
  drop(`${agency.code}_20261201_1.txt`, tfs1({ agency: agency.code, lines: [payLine(), refundLine()] }));
  drop(`${agency.code}_20261130_2.csv`, appbill({ lines: [payLine({ at: '2026-11-30T09:00:00+08:00' })] }));
  drop(`${agency.code}_20261129_1.txt.part`, 'still arriving');
  const outcomes = await loadInbox(service.runtime.services.statements, { dataDir, log });
  expect(outcomes).toEqual([
    { file: `${agency.code}_20261130_2.csv`, outcome: 'ACCEPTED', agencyCode: agency.code, businessDate: '2026-11-30', statementId: expect.any(String) },
    { file: `${agency.code}_20261201_1.txt`, outcome: 'ACCEPTED', agencyCode: agency.code, businessDate: '2026-12-01', statementId: expect.any(String) },
  ]);
  expect(listing()).toEqual([`${agency.code}_20261129_1.txt.part`]);
  expect(listing('done')).toEqual([`${agency.code}_20261130_2.csv`, `${agency.code}_20261201_1.txt`]);
  const rows = await service.database.db('agency_statements').where({ agency_code: agency.code }).orderBy('business_date');
  expect(rows.map((r) => [r.business_date, r.file_seq, r.format, r.source])).toEqual([
    ['2026-11-30', 2, 'APPBILL', 'INBOX'],
    ['2026-12-01', 1, 'TFS1', 'INBOX'],
  ]);
  expect(await service.database.db('job_requests').where({ agency_code: agency.code, job: 'reconcile' })).toHaveLength(2);
});

it('a zero-padded fileSeq in the name is its number (ABC_20261201_002.txt is fileSeq 2); _000 is refused', async () => {
  const agency = await addAgency(world);
  drop(`${agency.code}_20261201_002.txt`, tfs1({ agency: agency.code, seq: 2, lines: [payLine()] }));
  drop(`${agency.code}_20261130_000.txt`, tfs1({ agency: agency.code, date: '2026-11-30', seq: 1, lines: [payLine({ at: '2026-11-30T09:00:00+08:00' })] }));
  const outcomes = await loadInbox(service.runtime.services.statements, { dataDir, log });
  expect(outcomes.map((o) => [o.file, o.outcome])).toEqual([
    [`${agency.code}_20261130_000.txt`, 'REJECTED'],
    [`${agency.code}_20261201_002.txt`, 'ACCEPTED'],
  ]);
  const rows = await service.database.db('agency_statements').where({ agency_code: agency.code });
  expect(rows.map((r) => [r.business_date, r.file_seq])).toEqual([['2026-12-01', 2]]);
  const report = JSON.parse(fs.readFileSync(path.join(dataDir, 'inbox', 'statements', 'rejected', `${agency.code}_20261130_000.txt.report.json`), 'utf8'));
  expect(report.message).toContain("the name's fileSeq 000 is not an integer from 1 to 2147483647");
});

it('a file loaded again (a crash before its move, a second instance) is a replay', async () => {
  const agency = await addAgency(world);
  const text = tfs1({ agency: agency.code, lines: [payLine()] });
  drop(`${agency.code}_20261201_1.txt`, text);
  const [first, second] = await Promise.all([loadInbox(service.runtime.services.statements, { dataDir, log }), loadInbox(service.runtime.services.statements, { dataDir, log })]);
  const all = [...(first ?? []), ...(second ?? [])];
  expect(all.map((o) => o.outcome).sort()).toEqual(expect.arrayContaining(['ACCEPTED']));
  expect(all.every((o) => o.outcome === 'ACCEPTED' || o.outcome === 'REPLAYED')).toBe(true);
  drop(`${agency.code}_20261201_1.txt`, text);
  expect(await loadInbox(service.runtime.services.statements, { dataDir, log })).toEqual([expect.objectContaining({ outcome: 'REPLAYED' })]);
  expect(await service.database.db('agency_statements').where({ agency_code: agency.code })).toHaveLength(1);
  expect(listing()).toEqual([]);
  expect(listing('done')).toHaveLength(2);
});

it('refused files go to rejected/ with a report naming each problem with its line', async () => {
  const agency = await addAgency(world);
  drop(`${agency.code}_20261201_1.txt`, tfs1({ agency: agency.code, lines: [payLine({ amount: '1.005' }), payLine({ channel: 'NOPE' })] }));
  drop(`${agency.code}_20261201_2.txt`, tfs1({ agency: agency.code, seq: 3, lines: [payLine()] }));
  drop('NOSUCHAGENCY_20261201_1.txt', tfs1({ agency: 'NOSUCHAGENCY', lines: [payLine()] }));
  drop('badname.txt', 'x');
  const outcomes = await loadInbox(service.runtime.services.statements, { dataDir, log });
  expect(outcomes.map((o) => [o.file, o.outcome, o.code])).toEqual([
    [`${agency.code}_20261201_1.txt`, 'REJECTED', 'STATEMENT_MALFORMED'],
    [`${agency.code}_20261201_2.txt`, 'REJECTED', 'STATEMENT_MALFORMED'],
    ['NOSUCHAGENCY_20261201_1.txt', 'REJECTED', 'VALIDATION_FAILED'],
    ['badname.txt', 'REJECTED', 'VALIDATION_FAILED'],
  ]);
  expect(listing()).toEqual([]);
  expect(listing('rejected')).toEqual([
    `${agency.code}_20261201_1.txt`,
    `${agency.code}_20261201_1.txt.report.json`,
    `${agency.code}_20261201_2.txt`,
    `${agency.code}_20261201_2.txt.report.json`,
    'NOSUCHAGENCY_20261201_1.txt',
    'NOSUCHAGENCY_20261201_1.txt.report.json',
    'badname.txt',
    'badname.txt.report.json',
  ]);
  const report = JSON.parse(fs.readFileSync(path.join(dataDir, 'inbox', 'statements', 'rejected', `${agency.code}_20261201_1.txt.report.json`), 'utf8'));
  expect(report).toMatchObject({ file: `${agency.code}_20261201_1.txt`, code: 'STATEMENT_MALFORMED' });
  expect(report.problems).toEqual([
    { lineNo: 2, problem: expect.stringContaining('not money') },
    { lineNo: 3, problem: expect.stringContaining('channel "NOPE"') },
  ]);
  const seqReport = JSON.parse(fs.readFileSync(path.join(dataDir, 'inbox', 'statements', 'rejected', `${agency.code}_20261201_2.txt.report.json`), 'utf8'));
  expect(seqReport.problems).toEqual([{ lineNo: 1, problem: expect.stringContaining('not the fileSeq given with the file (2)') }]);
  expect(await service.database.db('agency_statements').where({ agency_code: agency.code })).toHaveLength(0);
});
