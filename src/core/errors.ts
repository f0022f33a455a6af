/**
 * One error hierarchy. Every error Mamori raises on purpose is a MamoriError:
 * a stable `code` (for API clients and scripts; never reworded), a `name`
 * (the class, so logs say more than "Error") and the HTTP status it maps to.
 * The API's one error handler answers with them; the CLI prints the same
 * message. Anything else that escapes is a bug: a 500 and a stack in the log.
 */
export class MamoriError extends Error {
  /** Stable identifier of the kind of error, e.g. "config-invalid". */
  static readonly code: string = 'error';
  /** The HTTP status the API answers with. */
  static readonly status: number = 500;

  readonly #status: number | undefined;

  /** `status` overrides the class's status for one error (e.g. a TAXII 404 among TAXII 400s). */
  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.#status = options?.status;
  }

  get code(): string {
    return (this.constructor as typeof MamoriError).code;
  }

  get status(): number {
    return this.#status ?? (this.constructor as typeof MamoriError).status;
  }

  /** What the API sends: the status's kind, the stable code and the message (a server error hides its message). */
  toResponse(): { error: string; code: string; message: string } {
    const s = this.status;
    return { error: kindOf(s), code: this.code, message: s >= 500 ? 'internal error; see the server log' : this.message };
  }
}

// The class name, on the prototype: set once for every subclass, so none can forget it.
Object.defineProperty(MamoriError.prototype, 'name', {
  get(this: MamoriError) {
    return this.constructor.name;
  },
  configurable: true,
});

const KINDS: Record<number, string> = {
  400: 'bad-request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not-found',
  409: 'conflict',
  405: 'method-not-allowed',
  413: 'too-large',
  415: 'unsupported-media-type',
  422: 'unprocessable',
  429: 'too-many-requests',
  502: 'bad-gateway',
  503: 'unavailable',
};

export function kindOf(status: number): string {
  return KINDS[status] ?? (status >= 500 ? 'internal' : 'bad-request');
}

/** Errors we expect from bad input to a command: one clear message, exit 2, no stack trace. */
export class UsageError extends MamoriError {
  static override readonly code = 'usage';
  static override readonly status = 400;
}
