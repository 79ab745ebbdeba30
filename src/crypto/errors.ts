/**
 * A key (public or private) that cannot be used: malformed, of an unsupported type or too weak.
 * The message is written for the party that sent the key, e.g. "RSA key must be at least 2048
 * bits", and can be returned as a VALIDATION_FAILED problem as is.
 */
export class KeyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyFormatError';
  }
}
