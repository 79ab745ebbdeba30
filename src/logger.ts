import pino, { Logger } from 'pino';

/**
 * JSON lines for operators. Personal data and secrets are redacted wherever they appear in a
 * logged object or a child logger's bindings, at any depth (inside arrays and errors too), so a
 * careless `log.info({ request: { body } })` cannot leak them (docs/interface.md §6.2: payer data is
 * personal). pino's own `redact` paths match a fixed depth only (`*.x` is one level), so the
 * redaction is a walk of its own, run by the `log` and `bindings` formatters before pino
 * serialises anything.
 *
 * A key is compared with its letters only, lower-cased (`idNumber`, `id_number` and `ID-NUMBER`
 * are one key). The value of a redacted key is replaced whole, whatever it is: `payer` (name, id
 * number, mobile), `payerAccount` and `payee` (account holder's name, number, bank) go as a block.
 * Masked forms (`payerNameMasked`) are made to be shown and stay.
 */
export const REDACTED_KEYS: ReadonlySet<string> = new Set(
  [
    // the payer and the payee (personal data)
    'payer',
    'payee',
    'payerName',
    'payeeName',
    'idNumber',
    'payerIdNumber',
    'mobile',
    'payerMobile',
    'payerAccount',
    'payeeAccount',
    'accountNo',
    'accountName',
    'payerAccountNo',
    'payerAccountName',
    'payeeAccountNo',
    'payeeAccountName',
    // secrets
    'privateKey',
    'privateKeyHex',
    'platformKeyHex',
    'fieldKeyHex',
    'password',
    'databaseUrl',
    'connectionString',
    'x-tongfu-signature',
    'authorization',
  ].map(normaliseKey),
);

export const REDACTED = '[REDACTED]';

/** Deeper than this, a value is replaced: no logged object is legitimately that deep. */
const DEPTH_MAX = 32;

function normaliseKey(key: string): string {
  return key.replace(/[^A-Za-z0-9]/g, '').toLowerCase();
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/**
 * A copy of `value` with every redacted key's value replaced by `[REDACTED]`, at any depth. Plain
 * objects and arrays are copied; an Error is first serialised as pino would (message, stack, its
 * own fields); anything else (a Date, a Buffer) is left as it is. Cycles become `[Circular]`.
 */
export function redactDeep(value: unknown, seen: WeakSet<object> = new WeakSet(), depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > DEPTH_MAX) return REDACTED;
  // pino's serialised error is an object of its own prototype: take its fields.
  const source = value instanceof Error ? { ...(pino.stdSerializers.err(value) as unknown as Record<string, unknown>) } : value;
  if (!Array.isArray(source) && !isPlainObject(source)) return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  try {
    if (Array.isArray(source)) return source.map((item: unknown) => redactDeep(item, seen, depth + 1));
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(source)) {
      copy[key] = REDACTED_KEYS.has(normaliseKey(key)) && item !== undefined && item !== null ? REDACTED : redactDeep(item, seen, depth + 1);
    }
    return copy;
  } finally {
    seen.delete(value);
  }
}

/**
 * The most one turn of the event loop keeps of lines not yet written: past it, lines are dropped
 * (and counted in the next line written) rather than memory grown without bound.
 */
const LOG_BUFFER_MAX_CHARS = 16 * 1024 * 1024;

/**
 * Standard output, one write per turn of the event loop
 * (contracts/decisions/0243-log-lines-written-once-per-turn.md): the lines logged during a turn are
 * joined and written together, synchronously, in that turn's check phase (setImmediate). A loaded
 * HTTP worker answers many requests a turn, and writes their access lines with one system call
 * instead of one each; an idle service's lines appear as they happen. The writes are
 * sonic-boom's synchronous ones (pino's default), which retry a full pipe. What is pending when the
 * process exits is written by the exit hook, so only a SIGKILL or a power cut can lose lines: at
 * most one turn's.
 */
export class TurnBatchedOutput {
  private pending: string[] = [];
  private pendingChars = 0;
  private dropped = 0;
  private scheduled = false;
  private readonly flushNow = (): void => this.flush();

  constructor(
    private readonly output: { write(text: string): unknown },
    private readonly maxChars = LOG_BUFFER_MAX_CHARS,
  ) {}

  write(line: string): void {
    if (this.pendingChars + line.length > this.maxChars) {
      this.dropped += 1;
      return;
    }
    this.pending.push(line);
    this.pendingChars += line.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
  }

  /** Writes what is pending (a no-op when nothing is). */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    let text = this.pending.join('');
    if (this.dropped > 0) {
      text += `${JSON.stringify({ level: 'warn', time: new Date().toISOString(), service: 'tongfu', droppedLines: this.dropped, msg: 'log lines dropped: standard output did not take them' })}\n`;
      this.dropped = 0;
    }
    this.pending = [];
    this.pendingChars = 0;
    this.output.write(text);
  }
}

let standardOutputOnce: TurnBatchedOutput | undefined;

/** The process's one batched standard output, flushed by the exit hook. */
function standardOutput(): TurnBatchedOutput {
  if (standardOutputOnce === undefined) {
    const output = new TurnBatchedOutput(pino.destination({ dest: 1, sync: true }));
    process.on('exit', () => output.flush());
    standardOutputOnce = output;
  }
  return standardOutputOnce;
}

/** A logger over `destination`, by default standard output written once per turn of the event loop. */
export function createLogger(level: string, destination: pino.DestinationStream = standardOutput()): Logger {
  const logger = pino(
    {
      level,
      base: { service: 'tongfu' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        bindings: (bindings) => redactDeep(bindings) as pino.Bindings,
        log: (object) => redactDeep(object) as Record<string, unknown>,
      },
    },
    destination,
  );
  // pino skips the bindings formatter for a child's bindings: redact them on the way in. Every
  // child (and its children) inherits this method from the root logger.
  type ChildFn = (this: unknown, bindings: pino.Bindings, options?: unknown) => unknown;
  const child = logger.child as unknown as ChildFn;
  const redactedChild: ChildFn = function (this: unknown, bindings, options) {
    return child.call(this, redactDeep(bindings) as pino.Bindings, options);
  };
  logger.child = redactedChild as unknown as typeof logger.child;
  return logger;
}

export type { Logger };
