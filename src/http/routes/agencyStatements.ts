import { assert, validationFailed } from '../../domain/errors';
import { FILE_SEQ_MAX, parseFileSeq, type StatementFormat } from '../../domain/statementFormats';
import type { Services } from '../../services';
import type { RouteDefinition } from '../call';
import { STATEMENT_UPLOAD_LIMIT_BYTES, type StreamedRouteDefinition } from '../streamedBody';

/**
 * The agency's statements (docs/reconciliation.md §1; contracts/openapi/32-agency-statements.yaml,
 * contracts/decisions/0100-statement-files.md): upload one — streamed, spooled and verified by
 * src/http/streamedBody.ts before the handler reads it — and read one back.
 */
export function agencyStatementRoutes(services: Services): Array<RouteDefinition | StreamedRouteDefinition> {
  const { statements } = services;
  return [
    {
      access: 'agency',
      method: 'POST',
      path: '/v1/agency/statements',
      operationId: 'postStatement',
      body: 'stream',
      contentTypes: ['text/plain', 'text/csv'],
      limitBytes: STATEMENT_UPLOAD_LIMIT_BYTES,
      async handle(call) {
        // The query was validated against the contract (format, businessDate, fileSeq shapes).
        const format = (typeof call.query.format === 'string' ? call.query.format : 'TFS1') as StatementFormat;
        const businessDate = typeof call.query.businessDate === 'string' ? call.query.businessDate : undefined;
        const fileSeqText = typeof call.query.fileSeq === 'string' ? call.query.fileSeq : undefined;
        const fileSeq = fileSeqText === undefined ? undefined : parseFileSeq(fileSeqText);
        // The contract's pattern admits ten digits; the range is the header's (1–FILE_SEQ_MAX).
        if (fileSeq === null) throw validationFailed([{ path: '/query/fileSeq', problem: `must be 1–${FILE_SEQ_MAX}` }]);
        const loaded = await statements.load(
          {
            agency: { partyId: call.party.partyId, code: call.party.code },
            format,
            ...(businessDate !== undefined ? { businessDate } : {}),
            ...(fileSeq !== undefined ? { fileSeq } : {}),
            file: { open: () => call.upload.open(), sha256Hex: call.upload.sha256Hex, sizeBytes: call.upload.sizeBytes },
            source: 'UPLOAD',
            requestedBy: call.party.appId,
          },
          call.log,
        );
        return { status: 201, body: loaded.statement, ...(loaded.replay ? { headers: { 'Idempotent-Replay': 'true' } } : {}) };
      },
    },
    {
      access: 'agency',
      method: 'GET',
      path: '/v1/agency/statements/:statementId',
      operationId: 'getStatement',
      body: 'none',
      async handle(call) {
        const statementId = call.params.statementId;
        assert(statementId !== undefined && call.party !== undefined, 'the route has a :statementId and an agency caller');
        return { status: 200, body: await statements.get(call.party.partyId, statementId) };
      },
    },
  ];
}
