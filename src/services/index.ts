import type { Config } from '../config';
import type { Db } from '../db/database';
import type { Clocks } from '../domain/clock';
import type { RequestAuthenticator } from '../http/call';
import type { Logger } from '../logger';

export interface ServiceDependencies {
  db: Db;
  config: Config;
  clocks: Clocks;
  log: Logger;
}

/** The use cases, wired once per process. Each capability adds its service here. */
export interface Services {
  deps: ServiceDependencies;
  authenticator: RequestAuthenticator | undefined;
  startWorkers(): void;
  stopWorkers(graceMs: number): Promise<void>;
}

export async function buildServices(deps: ServiceDependencies): Promise<Services> {
  return {
    deps,
    authenticator: undefined,
    startWorkers() {},
    async stopWorkers() {},
  };
}
