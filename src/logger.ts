import pino, { Logger } from 'pino';

/**
 * JSON lines for operators. Personal data and secrets are redacted wherever they appear in a
 * logged object, whatever the nesting, so a careless `log.info({ body })` cannot leak them.
 */
export const REDACT_PATHS = [
  'payer.name',
  'payer.idNumber',
  'payer.mobile',
  '*.payer.name',
  '*.payer.idNumber',
  '*.payer.mobile',
  'idNumber',
  'mobile',
  'payerName',
  '*.idNumber',
  '*.mobile',
  '*.payerName',
  'payerAccount',
  '*.payerAccount',
  'payee',
  '*.payee',
  'privateKey',
  '*.privateKey',
  'privateKeyHex',
  '*.privateKeyHex',
  'password',
  '*.password',
  'headers["x-tongfu-signature"]',
  '*.headers["x-tongfu-signature"]',
  'databaseUrl',
  '*.databaseUrl',
  'connectionString',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tongfu' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

export type { Logger };
