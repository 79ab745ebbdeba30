import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * One full garbage collection, once the process has started. Start-up (loading ~1,500 modules,
 * parsing the contract, migrations, connecting) leaves ~15 MB of garbage in V8's old generation,
 * which an idle process would keep resident for hours: nothing allocates enough to trigger a
 * major collection. Collecting it once brings an idle process under the memory limit of
 * docs/quality.md §1 (contracts/decisions/0079-idle-memory.md). `gc` is reached through a fresh
 * context after exposing it, so no command-line flag is needed and every way of starting the
 * process (npm start, scripts/run.js, cluster workers) gets it.
 */
export function collectStartUpGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (() => void) | undefined;
  gc?.();
}
