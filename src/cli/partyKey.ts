import { parseArgs } from 'node:util';
import { TongfuError, validationFailed, type FieldProblem } from '../domain/errors';
import type { Services } from '../services';
import { CLI_ACTOR } from '../services/audit';
import { readPublicKeyFile } from './partyAdd';

/**
 * `npm run cli -- party key add --app-id <appId> --public-key <file>` and
 * `party key retire --app-id <appId> --key-id <keyId>` (README "The CLI").
 *
 * The platform operator's way to change any party's keys — the only way for a finance party's
 * keys but the party's own rotation, since no finance party may change another's
 * (contracts/decisions/0205-finance-parties-by-the-operator.md): a finance operator who lost
 * their private key, or left, gets a new key or loses the old one here. It runs the same use
 * cases as `POST` and `DELETE /v1/finance/parties/{appId}/keys…`, with their rules (the same key
 * again answers it, a retired key stays retired, the last active key is not retired), records the
 * change in the finance audit log with the actor `cli`, and announces it to the party and to every
 * finance party (`party.keyAdded`, `party.keyRetired`, decision 0206).
 */

export interface PartyKeyAddResult {
  appId: string;
  keyId: string;
  algorithm: 'SM2' | 'RSA';
  status: 'ACTIVE' | 'RETIRED';
  /** False when the party already had this key (it is answered as it is). */
  created: boolean;
}

export interface PartyKeyRetireResult {
  appId: string;
  keyId: string;
  status: 'ACTIVE' | 'RETIRED';
}

const APP_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

function parse(args: string[], options: readonly string[]): Record<string, string> {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({ args, options: Object.fromEntries(options.map((name) => [name, { type: 'string' as const }])), strict: true, allowPositionals: false }) as { values: Record<string, string | undefined> });
  } catch (error) {
    throw validationFailed([{ path: 'arguments', problem: (error as Error).message }]);
  }
  const problems = options.flatMap((name) => {
    const value = values[name];
    if (value === undefined) return [{ path: `--${name}`, problem: 'is required' }];
    if (name !== 'public-key' && !APP_ID_PATTERN.test(value)) return [{ path: `--${name}`, problem: 'must be 1–64 characters of A–Z, a–z, 0–9, _ and -' }];
    return [];
  });
  if (problems.length > 0) throw validationFailed(problems);
  return values as Record<string, string>;
}

/** `party key add`: adds the key in the file to the party; errors VALIDATION_FAILED (options, the key), NOT_FOUND. */
export async function partyKeyAddCommand(args: string[], services: Pick<Services, 'parties'>): Promise<PartyKeyAddResult> {
  const values = parse(args, ['app-id', 'public-key']);
  const publicKey = readPublicKeyFile(values['public-key']!);
  const result = await services.parties.addKey(values['app-id']!, publicKey, CLI_ACTOR).catch((error: unknown) => {
    // The key's problems are the file's: name the option the operator typed.
    const fields = error instanceof TongfuError ? (error.details?.fields as FieldProblem[] | undefined) : undefined;
    if (fields === undefined) throw error;
    throw validationFailed(fields.map((field) => ({ path: field.path === '/publicKey' ? '--public-key' : field.path, problem: field.problem })));
  });
  return { appId: values['app-id']!, keyId: result.key.keyId, algorithm: result.key.algorithm, status: result.key.status, created: result.created };
}

/** `party key retire`: retires the party's key; errors VALIDATION_FAILED (options), NOT_FOUND, LAST_ACTIVE_KEY. */
export async function partyKeyRetireCommand(args: string[], services: Pick<Services, 'parties'>): Promise<PartyKeyRetireResult> {
  const values = parse(args, ['app-id', 'key-id']);
  const key = await services.parties.retireKey(values['app-id']!, values['key-id']!, CLI_ACTOR);
  return { appId: values['app-id']!, keyId: key.keyId, status: key.status };
}
