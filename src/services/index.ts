import type { Config } from '../config';
import type { Db } from '../db/database';
import type { Clocks } from '../domain/clock';
import type { FieldCipher } from '../crypto/fieldCipher';
import type { Logger } from '../logger';
import { AuditService } from './audit';
import { PartyAuthenticator, SignedAccessAuthenticator } from './authentication';
import { CatalogueService } from './catalogue';
import { EventService, recordEvent } from './events';
import { NoticeService } from './notices';
import { PartyService } from './parties';
import { loadPlatformKeys, PlatformKeyService, PlatformSigner } from './platformKeys';
import { loadFieldCipher } from './platformSecrets';
import { ensureNonceSentinel } from '../db/repositories/requestNonces';
import { NONCE_TIMESTAMP_WINDOW_SECONDS } from './nonces';
import { PublicLookupLimiter } from './publicLookupLimits';
import { PaymentService } from './payments';
import { DailyCloseService } from './dailyCloses';
import { RevenueReportService } from './revenueReports';
import { ReceiptService } from './receipts';
import { DiscrepancyService, discrepancyHandler } from './discrepancies';
import { ProposalEngine } from './proposals';
import { StatementService } from './statements';
import { ReconciliationService } from './reconciliation';
import { createBackfillOverages } from './reconciliation/backfill';
import { InstructionService } from './instructions';
import { BankPostingService } from './bankPostings';
import { SETTLEMENT_INSTRUCTIONS } from './bankPostingInstructions';
import { instructionHandler, unidentifiedHandler } from './settlementProposals';
import { RefundService } from './refunds';
import { refundHandler } from './refundProposals';

export interface ServiceDependencies {
  db: Db;
  config: Config;
  clocks: Clocks;
  log: Logger;
  /**
   * Tells this instance's other processes (its HTTP workers) that a party changed, and resolves
   * when they have dropped it from their caches (src/partyChangeRelay.ts). Absent in a single
   * process, where the local invalidation is all there is.
   */
  announcePartyChange?: (appId: string) => Promise<void>;
  /**
   * Called when the event sequencer has created callback deliveries, so that this process's
   * delivery worker (built by src/runtime.ts where TONGFU_JOBS=on) wakes at once.
   */
  onDeliveriesDue?: () => void;
}

/** The use cases, wired once per process. Each capability adds its service here. */
export interface Services {
  deps: ServiceDependencies;
  /** Signed access (docs/interface.md §2); the party service calls `authenticator.invalidate(appId)` after each commit. */
  authenticator: PartyAuthenticator;
  /** The platform's keys: `platformKeys.publishedKeys()` for GET /v1/platform/keys. */
  platformKeys: PlatformKeyService;
  /** Signs callbacks, receipts and daily closes with the platform's SM2 key. */
  platformSigner: PlatformSigner;
  /** Encrypts payer id numbers and mobiles at rest. */
  fieldCipher: FieldCipher;
  /** Regions, accounts, sharing rules, items and unit item authorisations (docs/interface.md §6.1). */
  catalogue: CatalogueService;
  /** Party registration, status, callback URL and keys (docs/interface.md §6.1; `party add`). */
  parties: PartyService;
  /** The finance audit log's reads (pages, `audit verify`); actions append with `recordAudit` from './audit'. */
  audit: AuditService;
  /** Payment notices: issue, read, list, void (units); verify (agencies); look up (public). */
  notices: NoticeService;
  /** Events (docs/lifecycle.md §5): sequencing, the pull API, deliveries, redelivery. Record with `recordEvent` from './events'. */
  events: EventService;
  /** E-receipts (docs/lifecycle.md §6): prepareReceipt for the payment posting; the unit's and the public reads. */
  receipts: ReceiptService;
  /** Payment postings and reads (docs/lifecycle.md §3, docs/interface.md §6.3): the posting writes payment, notice, ledger, receipt and events in one statement. */
  payments: PaymentService;
  /** Maker-checker (docs/settlement.md §2): each target kind registers its handler (decision 0115). */
  proposals: ProposalEngine;
  /** Reconciliation discrepancies: finance's list and reads (docs/reconciliation.md §3); resolved through `proposals`. */
  discrepancies: DiscrepancyService;
  /** The daily close (docs/settlement.md §5): sealing dates, the finance reads, `close verify`. */
  dailyCloses: DailyCloseService;
  revenueReports: RevenueReportService;
  /** Agency statements (docs/reconciliation.md §1): upload and inbox loads, reads. */
  statements: StatementService;
  /** The nightly reconcile run and reconciliation's reads (docs/reconciliation.md §2). */
  reconciliation: ReconciliationService;
  /** Instructions (docs/settlement.md §1): the settle and confirm-check jobs, results, views. */
  instructions: InstructionService;
  /** Bank postings and camt.053 statements (docs/settlement.md §2); instructions are matched through an InstructionMatcher. */
  bankPostings: BankPostingService;
  /** Refunds (docs/settlement.md §3): unit requests, finance decisions; their moves run in the transactions that cause them. */
  refunds: RefundService;
}

export async function buildServices(deps: ServiceDependencies): Promise<Services> {
  const authenticator = new SignedAccessAuthenticator({ db: deps.db, realClock: deps.clocks.real, log: deps.log });
  const platformKeys = await loadPlatformKeys(deps);
  // The nonce table after a database crash (contracts/decisions/0059-nonces-after-a-database-crash.md).
  const nonceTable = await ensureNonceSentinel(deps.db, NONCE_TIMESTAMP_WINDOW_SECONDS);
  if (nonceTable === 'horizon' || nonceTable === 'restored') deps.log.warn({ nonceTable }, 'the request nonce table was emptied by a database crash; requests signed before the database restarted are refused');
  const fieldCipher = await loadFieldCipher(deps.db, deps.config);
  const callbackPolicy = { production: deps.config.production, allow: deps.config.callbackAllow };
  // Callbacks: the sequencer and the delivery worker (src/runtime.ts) number committed events and
  // deliver them where TONGFU_JOBS=on; a pull numbers on demand.
  const events = new EventService({ db: deps.db, clocks: deps.clocks, log: deps.log, ...(deps.onDeliveriesDue ? { onDeliveriesDue: deps.onDeliveriesDue } : {}) });
  // Receipts are issued by the payment posting (receipts.prepareReceipt inside its transaction).
  const receipts = new ReceiptService({
    db: deps.db,
    clocks: deps.clocks,
    log: deps.log,
    signer: platformKeys.signer,
    platformKeys,
    publicBaseUrl: deps.config.publicBaseUrl,
    limiter: new PublicLookupLimiter({ db: deps.db, realClock: deps.clocks.real, log: deps.log }),
  });
  const proposals = new ProposalEngine({ db: deps.db, clocks: deps.clocks, log: deps.log });
  proposals.register(discrepancyHandler());
  const bankPostings = new BankPostingService({ db: deps.db, clocks: deps.clocks, log: deps.log, fieldCipher, instructions: SETTLEMENT_INSTRUCTIONS });
  // Settlement's maker-checker targets: REISSUE of an instruction, LINK / RETURN of an unidentified credit (decision 0145).
  // DETACH of a MISMATCHED instruction's posting (decision 0195).
  proposals.register(instructionHandler({ fieldCipher, bankPostings }));
  proposals.register(unidentifiedHandler({ bankPostings, fieldCipher }));
  // SET_PAYEE of a refund waiting for its payee (decision 0152).
  proposals.register(refundHandler({ fieldCipher, log: deps.log }));
  return {
    deps,
    authenticator,
    platformKeys,
    platformSigner: platformKeys.signer,
    fieldCipher,
    catalogue: new CatalogueService({ db: deps.db, clocks: deps.clocks, log: deps.log }),
    // A change to a party's keys or status takes effect on this instance as soon as it commits.
    parties: new PartyService({ db: deps.db, clocks: deps.clocks, log: deps.log, callbackPolicy, onPartyChanged: async (appId) => {
        authenticator.invalidate(appId);
        await deps.announcePartyChange?.(appId);
      } }),
    audit: new AuditService({ db: deps.db }),
    notices: new NoticeService({
      db: deps.db,
      clocks: deps.clocks,
      log: deps.log,
      fieldCipher,
      publicBaseUrl: deps.config.publicBaseUrl,
      limiter: new PublicLookupLimiter({ db: deps.db, realClock: deps.clocks.real, log: deps.log }),
      recordNoticeVoided: async (trx, voided) => {
        await recordEvent(trx, { type: 'notice.voided', recipients: [{ partyId: voided.unitPartyId }], data: { notice: voided.notice }, occurredAt: voided.occurredAt });
      },
    }),
    events,
    receipts,
    payments: new PaymentService({ db: deps.db, clocks: deps.clocks, log: deps.log, receipts, fieldCipher }),
    proposals,
    discrepancies: new DiscrepancyService({ db: deps.db, clocks: deps.clocks, log: deps.log }),
    revenueReports: new RevenueReportService({ db: deps.db }),
    dailyCloses: new DailyCloseService({ db: deps.db, clocks: deps.clocks, log: deps.log, signer: platformKeys.signer, platformKeys }),
    statements: new StatementService({ db: deps.db, clocks: deps.clocks, log: deps.log }),
    reconciliation: new ReconciliationService({ db: deps.db, clocks: deps.clocks, log: deps.log, backfillOverages: createBackfillOverages({ receipts, clocks: deps.clocks, log: deps.log }) }),
    instructions: new InstructionService({ db: deps.db, clocks: deps.clocks, log: deps.log, fieldCipher }),
    bankPostings,
    refunds: new RefundService({ db: deps.db, clocks: deps.clocks, log: deps.log, fieldCipher }),
  };
}
