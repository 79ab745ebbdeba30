/**
 * A first screen for duplicate keys in a statement file (docs/reconciliation.md §1,
 * contracts/decisions/0183-statement-duplicates-screened-while-parsing.md): while the parser streams
 * the lines, each line's (kind, agencyTxnId) is reduced to a 53-bit hash, kept in a Float64Array
 * (8 bytes a line). At the end the hashes are sorted; two equal neighbours mean the file MAY hold
 * a duplicate, and only then does the loader run its exact check over the copied lines, which
 * names every duplicate with its line number. Equal keys always hash equal, so a file this screen
 * clears has no duplicate; a collision of two different keys (about 1 in 10^4 for a
 * million-line file) costs the exact check, never a wrong answer.
 *
 * Memory is bounded: past `capacityKeys` keys the screen stops collecting and answers "may have
 * duplicates" (the exact check then runs, as it would without a screen).
 */

/** Keys the screen holds at most by default: 4,000,000 (32 MB). */
export const DUPLICATE_SCREEN_CAPACITY_KEYS = 4_000_000;

const INITIAL_KEYS = 1024;
/** 2^21: the second hash's low 21 bits go under the first hash's 32 (53 bits, exact in a double). */
const LOW_BITS = 0x200000;

export class DuplicateKeyScreen {
  private hashes = new Float64Array(INITIAL_KEYS);
  private count = 0;
  private overflowed = false;

  constructor(private readonly capacityKeys: number = DUPLICATE_SCREEN_CAPACITY_KEYS) {}

  /** Records one line's key. `kind` separates the key spaces (a PAY and a REFUND may share an id). */
  add(kind: string, key: string): void {
    if (this.overflowed) return;
    if (this.count === this.capacityKeys) {
      this.overflowed = true;
      this.hashes = new Float64Array(0);
      return;
    }
    if (this.count === this.hashes.length) {
      const grown = new Float64Array(Math.min(this.hashes.length * 2, this.capacityKeys));
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[this.count] = hashKey(kind, key);
    this.count += 1;
  }

  /** True unless every key recorded is certainly different from every other. */
  mayHaveDuplicates(): boolean {
    if (this.overflowed) return true;
    const sorted = this.hashes.subarray(0, this.count).sort();
    for (let index = 1; index < sorted.length; index += 1) {
      if (sorted[index] === sorted[index - 1]) return true;
    }
    return false;
  }
}

/**
 * Two 32-bit FNV-1a hashes with different offsets over the kind, a separator and the key's UTF-16
 * code units, combined into a 53-bit integer.
 */
export function hashKey(kind: string, key: string): number {
  let first = 0x811c9dc5;
  let second = 0x01000193 ^ 0x5bd1e995;
  // The kind's code units, a 0, then the key's: one step of each hash per code unit (written out,
  // not as a closure: this runs once per line of a million-line file).
  const length = kind.length + 1 + key.length;
  for (let index = 0; index < length; index += 1) {
    const code = index < kind.length ? kind.charCodeAt(index) : index === kind.length ? 0 : key.charCodeAt(index - kind.length - 1);
    first = Math.imul(first ^ code, 0x01000193);
    second = Math.imul(second ^ code, 0x5bd1e995) ^ (second >>> 15);
  }
  return (first >>> 0) * LOW_BITS + ((second >>> 0) % LOW_BITS);
}
