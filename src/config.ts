import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { Clock, fixedClock, offsetClock, systemClock } from './domain/clock';
import { AddressRanges, parseCidrList } from './net/addresses';

/**
 * Every environment variable is parsed and checked here, once (docs/operations.md §2). A bad value
 * stops start-up with a message that names the variable.
 */
export interface Config {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  dataDir: string;
  publicBaseUrl: string;
  logLevel: string;
  platformKeyHex: string | undefined;
  fieldKeyHex: string | undefined;
  clockSpec: string;
  jobsEnabled: boolean;
  /** HTTP worker processes; 1 = the main process serves HTTP itself. */
  httpWorkers: number;
  cronOverrides: Record<string, string>;
  production: boolean;
  /**
   * TONGFU_SANDBOX: whether the sandbox agency's checkout is mounted (contracts/decisions/0191).
   * On by default outside production, where a newcomer pays a notice end to end; never in production.
   */
  sandbox: boolean;
  /** TONGFU_TRUSTED_PROXIES: peers whose X-Forwarded-For names the client (empty: none). */
  trustedProxies: AddressRanges;
  /** TONGFU_CALLBACK_ALLOW: private ranges callbacks may reach in production anyway (empty: none). */
  callbackAllow: AddressRanges;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`invalid configuration: ${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

const HTTP_WORKERS_MAX = 16;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const HEX_KEY_64 = /^[0-9a-fA-F]{64}$/;
const HEX_KEY_32 = /^[0-9a-fA-F]{32}$/;

function readKey(variable: string, raw: string | undefined, pattern: RegExp, digits: number): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  let value = raw.trim();
  if (!pattern.test(value)) {
    // Not the key itself: it may name a file that holds it.
    try {
      value = fs.readFileSync(value, 'utf8').trim();
    } catch {
      throw new ConfigError(variable, `must be ${digits} hex digits or a readable file holding them`);
    }
    if (!pattern.test(value)) throw new ConfigError(variable, `the file does not hold ${digits} hex digits`);
  }
  return value.toLowerCase();
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const production = env.NODE_ENV === 'production';

  const portRaw = env.PORT ?? '8080';
  if (!/^\d{1,5}$/.test(portRaw) || Number(portRaw) > 65535) throw new ConfigError('PORT', 'must be a port number 0–65535');

  const host = env.HOST ?? '127.0.0.1';
  if (host.trim() === '') throw new ConfigError('HOST', 'must not be empty');

  const databaseUrl = env.DATABASE_URL && env.DATABASE_URL !== '' ? env.DATABASE_URL : undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  }

  // By default the service's own address on this machine, at the port it listens on.
  const publicBaseUrl = (env.PUBLIC_BASE_URL ?? `http://localhost:${Number(portRaw)}`).replace(/\/+$/, '');
  try {
    const url = new URL(publicBaseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new ConfigError('PUBLIC_BASE_URL', 'must be an http(s) URL');
  }

  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);

  const platformKeyHex = readKey('TONGFU_PLATFORM_KEY', env.TONGFU_PLATFORM_KEY, HEX_KEY_64, 64);
  if (production && platformKeyHex === undefined) throw new ConfigError('TONGFU_PLATFORM_KEY', 'is required when NODE_ENV=production');
  const fieldKeyHex = readKey('TONGFU_FIELD_KEY', env.TONGFU_FIELD_KEY, HEX_KEY_32, 32);
  if (production && fieldKeyHex === undefined) throw new ConfigError('TONGFU_FIELD_KEY', 'is required when NODE_ENV=production');

  const clockSpec = env.TONGFU_CLOCK ?? 'system';
  parseClockSpec(clockSpec, systemClock); // validates
  if (production && clockSpec !== 'system') throw new ConfigError('TONGFU_CLOCK', 'must be "system" when NODE_ENV=production');

  const sandboxRaw = env.TONGFU_SANDBOX ?? (production ? 'off' : 'on');
  if (sandboxRaw !== 'on' && sandboxRaw !== 'off') throw new ConfigError('TONGFU_SANDBOX', 'must be "on" or "off"');
  if (production && sandboxRaw === 'on') throw new ConfigError('TONGFU_SANDBOX', 'must be "off" when NODE_ENV=production: the sandbox agency posts payments no money backs');

  const jobsRaw = env.TONGFU_JOBS ?? 'on';
  if (jobsRaw !== 'on' && jobsRaw !== 'off') throw new ConfigError('TONGFU_JOBS', 'must be "on" or "off"');

  const workersRaw = env.TONGFU_HTTP_WORKERS ?? String(Math.min(os.availableParallelism(), HTTP_WORKERS_MAX));
  if (!/^\d{1,2}$/.test(workersRaw) || Number(workersRaw) < 1 || Number(workersRaw) > HTTP_WORKERS_MAX) {
    throw new ConfigError('TONGFU_HTTP_WORKERS', `must be a whole number 1–${HTTP_WORKERS_MAX}`);
  }

  const cronOverrides: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('TONGFU_CRON_') || value === undefined) continue;
    const job = name.slice('TONGFU_CRON_'.length).toLowerCase().replace(/_/g, '-');
    cronOverrides[job] = value;
  }

  const trustedProxies = readCidrs('TONGFU_TRUSTED_PROXIES', env.TONGFU_TRUSTED_PROXIES);
  const callbackAllow = readCidrs('TONGFU_CALLBACK_ALLOW', env.TONGFU_CALLBACK_ALLOW);

  return {
    port: Number(portRaw),
    host,
    databaseUrl,
    dataDir: path.resolve(env.TONGFU_DATA_DIR ?? './var'),
    publicBaseUrl,
    logLevel,
    platformKeyHex,
    fieldKeyHex,
    clockSpec,
    jobsEnabled: jobsRaw === 'on',
    httpWorkers: Number(workersRaw),
    cronOverrides,
    production,
    sandbox: sandboxRaw === 'on',
    trustedProxies,
    callbackAllow,
  };
}

function readCidrs(variable: string, raw: string | undefined): AddressRanges {
  try {
    return parseCidrList(raw ?? '');
  } catch (error) {
    throw new ConfigError(variable, `must be a comma-separated list of CIDRs: ${(error as Error).message}`);
  }
}

const OFFSET_UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000 };

/** `system`, `fixed:<ISO instant>` or `offset:<±N>d|h|m` → the business clock. */
export function parseClockSpec(spec: string, real: Clock): Clock {
  if (spec === 'system') return real;
  if (spec.startsWith('fixed:')) {
    const text = spec.slice('fixed:'.length);
    const at = new Date(text);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(at.getTime())) {
      throw new ConfigError('TONGFU_CLOCK', 'fixed: needs an ISO 8601 instant, e.g. fixed:2026-11-27T09:00:00+08:00');
    }
    return fixedClock(at);
  }
  const offset = /^offset:([+-]?\d{1,6})([dhm])$/.exec(spec);
  if (offset) {
    const unitMs = OFFSET_UNIT_MS[offset[2] as string] as number;
    return offsetClock(real, Number(offset[1]) * unitMs);
  }
  throw new ConfigError('TONGFU_CLOCK', 'must be system, fixed:<ISO instant> or offset:<±N>d|h|m');
}
