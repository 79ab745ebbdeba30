// The few pieces of ASN.1 DER this service needs, written by hand: SubjectPublicKeyInfo for SM2
// keys (which Node's crypto reads but cannot describe: it reports no key type for SM2 and refuses
// to export it as JWK) and the SEQUENCE { INTEGER r, INTEGER s } of an SM2 signature.
//
// The reader is strict DER on purpose. Key and signature bytes come from outside parties, so every
// length is bounds-checked, only the minimal encodings are accepted (one encoding per value, so a
// signature cannot be re-encoded into a second valid form) and anything malformed throws
// `DerError`, which callers turn into their own error or a plain "does not verify".

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

export const DER_TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
} as const;

/** One decoded element: its tag, its content bytes and where the next element starts. */
export interface DerElement {
  tag: number;
  content: Buffer;
  end: number;
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Encodes tag + length + content. */
export function derEncode(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

/** Reads the element starting at `offset`; it must lie entirely within `input`. */
export function derRead(input: Buffer, offset = 0): DerElement {
  if (offset + 2 > input.length) throw new DerError('truncated DER element');
  const tag = input[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported');
  const first = input[offset + 1]!;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else {
    const lengthBytes = first & 0x7f;
    // 0x80 is BER's indefinite length; more than 4 length bytes is never needed here.
    if (lengthBytes === 0 || lengthBytes > 4) throw new DerError('unsupported DER length');
    if (offset + 2 + lengthBytes > input.length) throw new DerError('truncated DER length');
    length = 0;
    for (let i = 0; i < lengthBytes; i++) length = length * 256 + input[offset + 2 + i]!;
    // DER: the long form only for lengths >= 128, and without leading zero bytes.
    if (length < 0x80 || input[offset + 2]! === 0) throw new DerError('non-minimal DER length');
    contentStart = offset + 2 + lengthBytes;
  }
  const end = contentStart + length;
  if (end > input.length) throw new DerError('DER element longer than its input');
  return { tag, content: input.subarray(contentStart, end), end };
}

/** Reads an element that must have `tag`. */
export function derExpect(input: Buffer, offset: number, tag: number, what: string): DerElement {
  const element = derRead(input, offset);
  if (element.tag !== tag) throw new DerError(`expected ${what}`);
  return element;
}

/** Reads the elements of a constructed value's content (e.g. a SEQUENCE's members). */
export function derChildren(content: Buffer): DerElement[] {
  const children: DerElement[] = [];
  for (let offset = 0; offset < content.length; ) {
    const child = derRead(content, offset);
    children.push(child);
    offset = child.end;
  }
  return children;
}

/** Dotted form of an OBJECT IDENTIFIER's content bytes, e.g. "1.2.156.10197.1.301". */
export function decodeOid(content: Buffer): string {
  if (content.length === 0) throw new DerError('empty OID');
  const arcs: bigint[] = [];
  let value = 0n;
  for (let i = 0; i < content.length; i++) {
    const byte = content[i]!;
    if (value === 0n && byte === 0x80) throw new DerError('non-minimal OID arc');
    value = (value << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0n;
    } else if (i === content.length - 1) {
      throw new DerError('truncated OID');
    }
  }
  const firstArc = arcs[0]!;
  const head = firstArc < 40n ? [0n, firstArc] : firstArc < 80n ? [1n, firstArc - 40n] : [2n, firstArc - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}

/** Content bytes of an OBJECT IDENTIFIER given in dotted form. */
export function encodeOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => BigInt(arc));
  if (arcs.length < 2) throw new DerError('an OID has at least two arcs');
  const bytes: number[] = [];
  const pushArc = (arc: bigint): void => {
    const groups: number[] = [Number(arc & 0x7fn)];
    for (let rest = arc >> 7n; rest > 0n; rest >>= 7n) groups.unshift(Number(rest & 0x7fn) | 0x80);
    bytes.push(...groups);
  };
  pushArc(arcs[0]! * 40n + arcs[1]!);
  arcs.slice(2).forEach(pushArc);
  return Buffer.from(bytes);
}

/** DER INTEGER content for a non-negative bigint: minimal, with a 0x00 pad if the top bit is set. */
export function encodeUnsignedInteger(value: bigint): Buffer {
  if (value < 0n) throw new DerError('negative integers are not supported');
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  return bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

/** A DER INTEGER's content as a non-negative bigint; negative or non-minimal encodings throw. */
export function decodeUnsignedInteger(content: Buffer): bigint {
  if (content.length === 0) throw new DerError('empty INTEGER');
  if (content[0]! & 0x80) throw new DerError('negative INTEGER');
  if (content.length > 1 && content[0] === 0 && (content[1]! & 0x80) === 0) {
    throw new DerError('non-minimal INTEGER');
  }
  return BigInt(`0x${content.toString('hex')}`);
}
