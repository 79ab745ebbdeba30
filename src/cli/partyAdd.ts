import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FieldProblem, TongfuError, validationFailed } from '../domain/errors';
import { Contract, errorsToTongfuError } from '../http/contract';
import type { Services } from '../services';
import { CLI_ACTOR } from '../services/audit';
import type { RegisterPartyInput } from '../services/parties';

/**
 * `npm run cli -- party add --role <r> --code <c> --name <n> --public-key <file> [--region <code>]
 * [--callback-url <url>] [--clearing-account <no>] [--cutoff HH:MM]` (docs/operations.md §3).
 *
 * The way the first finance party is created, before anyone can sign a request. It builds the
 * same body `POST /v1/finance/parties` takes, checks it against the same contract and registers
 * it through the same use case, so the CLI and the API accept exactly the same parties and a
 * repeated command answers the party it registered before (idempotent on role and code). The
 * registration is in the finance audit log with the actor `cli` (src/services/audit.ts).
 */

export interface PartyAddResult {
  appId: string;
  keyId: string;
}

/** CLI option → body field, so every problem names the option the operator typed. */
const OPTION_FIELDS = {
  role: 'role',
  code: 'code',
  name: 'name',
  'public-key': 'publicKey',
  region: 'regionCode',
  'callback-url': 'callbackUrl',
  'clearing-account': 'clearingAccountNo',
  cutoff: 'cutoffTime',
} as const;

type OptionName = keyof typeof OPTION_FIELDS;

const REQUIRED_OPTIONS: readonly OptionName[] = ['role', 'code', 'name', 'public-key'];

/** Public keys are short; a larger file is not a key (and is not read into memory). */
const PUBLIC_KEY_FILE_BYTES_MAX = 64 * 1024;

function optionFor(path: string): string {
  const field = path.replace(/^\//, '').split('/')[0];
  const option = (Object.keys(OPTION_FIELDS) as OptionName[]).find((name) => OPTION_FIELDS[name] === field);
  return option ? `--${option}` : path;
}

/** The same error with each problem's path given as the CLI option it came from. */
function inOptionTerms(error: TongfuError): TongfuError {
  const fields = error.details?.fields as FieldProblem[] | undefined;
  if (!fields) return error;
  const renamed = fields.map((field) => ({ path: optionFor(field.path), problem: field.problem }));
  const summary = renamed.map((field) => `${field.path}: ${field.problem}`).join('; ');
  return new TongfuError(error.code, `${error.code === 'VALIDATION_FAILED' ? 'invalid arguments' : error.message}: ${summary}`, { ...error.details, fields: renamed });
}

/**
 * An operator's file argument as a path: relative to the directory the operator ran the command in.
 * `npm run cli` runs it from the package's root, and says where the operator was in INIT_CWD.
 */
export function operatorPath(file: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.INIT_CWD ?? process.cwd(), file);
}

/** The contents of an operator's public key file; VALIDATION_FAILED naming --public-key when it cannot be one. */
export function readPublicKeyFile(argument: string): string {
  const file = operatorPath(argument);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    throw validationFailed([{ path: '--public-key', problem: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` }]);
  }
  if (!stat.isFile()) throw validationFailed([{ path: '--public-key', problem: `${file} is not a file` }]);
  if (stat.size > PUBLIC_KEY_FILE_BYTES_MAX) throw validationFailed([{ path: '--public-key', problem: `${file} is larger than ${PUBLIC_KEY_FILE_BYTES_MAX} bytes; it is not a public key` }]);
  return fs.readFileSync(file, 'utf8');
}

let loadedContract: Contract | undefined;

/** contracts/ is compiled once per process: compiling every operation's validators takes a while. */
function defaultContract(): Contract {
  loadedContract ??= new Contract();
  return loadedContract;
}

/** The registration body the arguments describe; only the options given appear in it. */
export function partyAddBody(args: string[]): RegisterPartyInput {
  let values: Partial<Record<OptionName, string>>;
  try {
    ({ values } = parseArgs({
      args,
      options: Object.fromEntries((Object.keys(OPTION_FIELDS) as OptionName[]).map((name) => [name, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    }) as { values: Partial<Record<OptionName, string>> });
  } catch (error) {
    throw validationFailed([{ path: 'arguments', problem: (error as Error).message }]);
  }
  const missing = REQUIRED_OPTIONS.filter((name) => values[name] === undefined);
  if (missing.length > 0) throw validationFailed(missing.map((name) => ({ path: `--${name}`, problem: 'is required' })));

  const body: Record<string, string> = {};
  for (const name of Object.keys(OPTION_FIELDS) as OptionName[]) {
    const value = values[name];
    if (value === undefined) continue;
    body[OPTION_FIELDS[name]] = name === 'public-key' ? readPublicKeyFile(value) : value;
  }
  return body as unknown as RegisterPartyInput;
}

/**
 * Registers the party the arguments describe and answers `{appId, keyId}`. Errors are the
 * registration's (VALIDATION_FAILED, IDEMPOTENCY_CONFLICT, UNKNOWN_REFERENCE), with problems named
 * by option; the CLI prints them and exits non-zero.
 */
export async function partyAddCommand(args: string[], services: Pick<Services, 'parties'>, contract: Contract = defaultContract()): Promise<PartyAddResult> {
  try {
    const body = partyAddBody(args);
    const validate = contract.operation('registerParty').body;
    if (validate && !validate(body)) throw errorsToTongfuError(validate.errors ?? [], '');
    // The operator at the console is the actor the audit log records (`cli`).
    const registration = await services.parties.register(body, CLI_ACTOR);
    return { appId: registration.party.appId, keyId: registration.keyId };
  } catch (error) {
    if (error instanceof TongfuError) throw inOptionTerms(error);
    throw error;
  }
}
