/**
 * What spooling a streamed upload costs on this machine (contracts/decisions/0070): a body of
 * BENCH_UPLOAD_BYTES (default 200 MB) in socket-sized chunks, through the steps the upload
 * middleware takes, each timed on its own so the spool's share is visible:
 *
 *   hash      SHA-256 + SM3 of every chunk (what any upload costs, spooled or not)
 *   spool     hash + write each chunk to the spool file, one awaited write at a time, then close
 *   readBack  the handler reading the spooled file once (SHA-256 as it goes)
 *
 * Each step runs ROUNDS times, alternating; the fastest run of each is reported.
 *
 * `node scripts/run.js scripts/bench/uploadSpool.ts`; spools into TONGFU_DATA_DIR/tmp (default
 * ./var/tmp), like the service. Figures go to stdout and scripts/bench/results/upload-spool-*.json.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { BodyDigester } from '../../src/crypto/bodyDigests';
import { UploadSpool } from '../../src/http/streamedBody';
import { envInteger, RESULTS_DIR } from './lib';

/** Node's sockets hand over at most 64 KiB per read. */
const CHUNK_BYTES = 64 * 1024;
const ROUNDS = 3;

async function main(): Promise<void> {
  const sizeBytes = envInteger('BENCH_UPLOAD_BYTES', 200_000_000, 1, 256 * 1024 * 1024);
  const directory = path.join(path.resolve(process.env.TONGFU_DATA_DIR ?? './var'), 'tmp');
  const spool = new UploadSpool(directory);
  const source = crypto.randomBytes(CHUNK_BYTES);
  const chunks = Math.ceil(sizeBytes / CHUNK_BYTES);
  const chunkAt = (index: number): Buffer => source.subarray(0, Math.min(CHUNK_BYTES, sizeBytes - index * CHUNK_BYTES));

  const rssStart = process.memoryUsage().rss;
  const hashRuns: number[] = [];
  const spoolRuns: number[] = [];
  const readBackRuns: number[] = [];
  // Alternate the steps, ROUNDS times, and keep each one's fastest run: the machine is shared and
  // its speed drifts, so a single run measures the neighbours as much as the spool.
  for (let round = 0; round < ROUNDS; round += 1) {
    let started = performance.now();
    const hashOnly = new BodyDigester(new Set(['SM2', 'RSA']));
    for (let index = 0; index < chunks; index += 1) hashOnly.update(chunkAt(index));
    const expected = hashOnly.digests();
    hashRuns.push(performance.now() - started);

    started = performance.now();
    const digester = new BodyDigester(new Set(['SM2', 'RSA']));
    const file = await spool.create();
    for (let index = 0; index < chunks; index += 1) {
      const chunk = chunkAt(index);
      digester.update(chunk);
      await file.handle.write(chunk);
    }
    await file.handle.close();
    const digests = digester.digests();
    spoolRuns.push(performance.now() - started);
    if (digests.sha256Hex !== expected.sha256Hex) throw new Error('the spooled digests differ from the in-memory ones');

    started = performance.now();
    const readHash = crypto.createHash('sha256');
    for await (const chunk of fs.createReadStream(file.path)) readHash.update(chunk as Buffer);
    readBackRuns.push(performance.now() - started);
    if (readHash.digest('hex') !== expected.sha256Hex) throw new Error('the spooled file does not hold the body');
    await fs.promises.rm(file.path, { force: true });
  }
  const rssPeakMiB = (process.resourceUsage().maxRSS * 1024 - rssStart) / 1024 / 1024;
  await spool.sweepAbandoned(pino({ level: 'silent' }));
  const hashMs = Math.min(...hashRuns);
  const spoolMs = Math.min(...spoolRuns);
  const readBackMs = Math.min(...readBackRuns);

  const mbPerSecond = (ms: number): number => Math.round(sizeBytes / 1e6 / (ms / 1000));
  const result = {
    at: new Date().toISOString(),
    sizeBytes,
    chunkBytes: CHUNK_BYTES,
    rounds: ROUNDS,
    runsMs: { hash: hashRuns.map(Math.round), spool: spoolRuns.map(Math.round), readBack: readBackRuns.map(Math.round) },
    directory,
    hash: { ms: Math.round(hashMs), mbPerSecond: mbPerSecond(hashMs) },
    spool: { ms: Math.round(spoolMs), mbPerSecond: mbPerSecond(spoolMs), overHashMs: Math.round(spoolMs - hashMs) },
    readBack: { ms: Math.round(readBackMs), mbPerSecond: mbPerSecond(readBackMs) },
    rssGrowthMiB: Math.round(rssPeakMiB * 10) / 10,
  };
  await fs.promises.mkdir(RESULTS_DIR, { recursive: true });
  const out = path.join(RESULTS_DIR, `upload-spool-${result.at.replace(/[:.]/g, '-')}.json`);
  await fs.promises.writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n→ ${out}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
