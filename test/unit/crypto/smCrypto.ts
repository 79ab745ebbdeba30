// Typed access to `sm-crypto` 0.5.8 (dev dependency, no type declarations): the original pure-JS
// SM2 implementation that Chinese integrators use, as the independent party in interop tests.

interface SmCryptoSm2 {
  generateKeyPairHex(): { privateKey: string; publicKey: string };
  doSignature(msg: string | number[], privateKey: string, options: { hash: boolean; der: boolean }): string;
  doVerifySignature(
    msg: string | number[],
    signHex: string,
    publicKey: string,
    options: { hash: boolean; der: boolean },
  ): boolean;
}

export const smCryptoSm2 = (require('sm-crypto') as { sm2: SmCryptoSm2 }).sm2;
