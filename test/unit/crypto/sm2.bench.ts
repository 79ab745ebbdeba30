// Timings of the crypto hot paths. Not a test (Jest only runs *.test.ts); run it with
//   node scripts/run.js test/unit/crypto/sm2.bench.ts
import { createHash, generateKeyPairSync } from 'node:crypto';

import { sm2, sm3 } from 'sm-crypto-v2';

import { parsePublicKey } from '../../../src/crypto/keys';
import { createVerifier, signRequest } from '../../../src/crypto/requestSigning';
import { createSm2Signer, createSm2Verifier, sm2Sign } from '../../../src/crypto/sm2';
import { sm3Hex } from '../../../src/crypto/sm3';

function timeMs(label: string, iterations: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(50, iterations); i++) fn(i); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(i);
  const perCallMs = Number(process.hrtime.bigint() - start) / 1e6 / iterations;
  console.log(`${label.padEnd(58)} ${perCallMs.toFixed(3)} ms`);
  return perCallMs;
}

const { privateKey, publicKey } = sm2.generateKeyPairHex();
const message = Buffer.from(`POST\n/v1/agency/payments\n1764210000\nZq3kP0c8vXw1yL2mAAAA\n${'a'.repeat(64)}\n`);
const signatures = Array.from({ length: 200 }, () => sm2Sign(message, privateKey));
const signer = createSm2Signer(privateKey);
const verifier = createSm2Verifier(publicKey);

timeMs('sm2Sign (one-shot, derives public key)', 500, () => sm2Sign(message, privateKey));
timeMs('createSm2Signer(...).sign', 500, () => signer.sign(message));
timeMs('createSm2Verifier (precompute, once per key)', 20, () => createSm2Verifier(publicKey));
timeMs('createSm2Verifier(...).verify', 500, (i) => verifier.verify(message, signatures[i % 200]!));
for (const precomputeWindow of [4, 5, 6, 7, 8]) {
  timeMs(`  window ${precomputeWindow}: createSm2Verifier`, 20, () => createSm2Verifier(publicKey, { precomputeWindow }));
  const windowed = createSm2Verifier(publicKey, { precomputeWindow });
  timeMs(`  window ${precomputeWindow}: verify`, 500, (i) => windowed.verify(message, signatures[i % 200]!));
}
timeMs('sm-crypto-v2 doVerifySignature, no precompute', 200, (i) =>
  sm2.doVerifySignature(message, signatures[i % 200]!.toString('hex'), publicKey, { hash: true, der: true }),
);
const point = sm2.precomputePublicKey(publicKey);
timeMs('sm-crypto-v2 doVerifySignature, precomputed point', 500, (i) =>
  sm2.doVerifySignature(message, signatures[i % 200]!.toString('hex'), point, { hash: true, der: true }),
);

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPublic = parsePublicKey(rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString());
const rsaPem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const rsaVerifier = createVerifier(rsaPublic);
const rsaHeaders = signRequest({
  method: 'POST', target: '/x', body: '{}', appId: 'a', timestampSeconds: 1, nonce: 'n'.repeat(16),
  privateKey: { algorithm: 'RSA', privateKeyPem: rsaPem },
});
const rsaText = Buffer.from(`POST\n/x\n1\n${'n'.repeat(16)}\n${rsaVerifier.digest('{}')}\n`);
const rsaSignature = Buffer.from(rsaHeaders['X-Tongfu-Signature']!, 'base64');
timeMs('RSA-2048 signRequest (parses the PEM each time)', 200, () =>
  signRequest({ method: 'POST', target: '/x', body: '{}', appId: 'a', timestampSeconds: 1, privateKey: { algorithm: 'RSA', privateKeyPem: rsaPem } }),
);
timeMs('RSA-2048 createVerifier(...).verify', 2000, () => rsaVerifier.verify(rsaText, rsaSignature));

const mib = Buffer.alloc(1024 * 1024, 7);
timeMs('SM3 of 1 MiB, node:crypto', 20, () => sm3Hex(mib));
timeMs('SM3 of 1 MiB, sm-crypto-v2 (pure JS)', 5, () => sm3(mib));
timeMs('SHA-256 of 1 MiB, node:crypto', 20, () => createHash('sha256').update(mib).digest('hex'));
