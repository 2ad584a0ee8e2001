/**
 * The one error type of Flotilla. Every error that crosses a process or an API boundary is a
 * FlotillaError with a stable code from the closed set below; the code is mapped to a gRPC status
 * and to an HTTP status (problem+json). `cause` is kept for logs and never sent to clients.
 */

/** Stable error codes, `<AREA>_<WHAT>`. Add new ones here; never rename one that has shipped. */
export const Code = {
  /** A value given by the caller is malformed or out of range. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** Configuration (flags, FLOTILLA_* variables, YAML file) failed validation. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  NOT_FOUND: 'NOT_FOUND',
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  /** The system is not in the state the operation needs (e.g. a ring does not exist yet). */
  FAILED_PRECONDITION: 'FAILED_PRECONDITION',
  /** A dependency (peer, coordination store) cannot be reached; retrying may help. */
  UNAVAILABLE: 'UNAVAILABLE',
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  RESOURCE_EXHAUSTED: 'RESOURCE_EXHAUSTED',
  CANCELLED: 'CANCELLED',
  /** A bug or an unexpected failure; details go to the log, not to the client. */
  INTERNAL: 'INTERNAL',
  /** Coordination store: the requested revision has been compacted. */
  COORD_COMPACTED: 'COORD_COMPACTED',
  /** Coordination store: the requested revision is in the future. */
  COORD_FUTURE_REV: 'COORD_FUTURE_REV',
  /** Coordination store: the lease does not exist or has expired. */
  COORD_LEASE_NOT_FOUND: 'COORD_LEASE_NOT_FOUND',
  /** Coordination store: leadership was lost (lease expired or revoked). */
  COORD_NOT_LEADER: 'COORD_NOT_LEADER',
  /** Port or address already in use, or not bindable. */
  LISTEN_FAILED: 'LISTEN_FAILED',
  /** Workflows: a spec failed validation (details.problems lists each with its line and column). */
  FLOW_SPEC_INVALID: 'FLOW_SPEC_INVALID',
  /** Key-value store: fewer than W (or R) of the key's primary replicas answered; retrying may help. */
  KV_QUORUM_NOT_MET: 'KV_QUORUM_NOT_MET',
} as const;
export type Code = (typeof Code)[keyof typeof Code];

/** gRPC status codes (numeric, as on the wire). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

interface Mapping {
  grpc: number;
  http: number;
  retryable: boolean;
  title: string;
}

const mappings: Record<Code, Mapping> = {
  INVALID_ARGUMENT: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 400, retryable: false, title: 'Invalid argument' },
  CONFIG_INVALID: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 400, retryable: false, title: 'Invalid configuration' },
  NOT_FOUND: { grpc: GrpcStatus.NOT_FOUND, http: 404, retryable: false, title: 'Not found' },
  ALREADY_EXISTS: { grpc: GrpcStatus.ALREADY_EXISTS, http: 409, retryable: false, title: 'Already exists' },
  FAILED_PRECONDITION: { grpc: GrpcStatus.FAILED_PRECONDITION, http: 409, retryable: false, title: 'Failed precondition' },
  UNAVAILABLE: { grpc: GrpcStatus.UNAVAILABLE, http: 503, retryable: true, title: 'Unavailable' },
  DEADLINE_EXCEEDED: { grpc: GrpcStatus.DEADLINE_EXCEEDED, http: 504, retryable: true, title: 'Deadline exceeded' },
  UNAUTHENTICATED: { grpc: GrpcStatus.UNAUTHENTICATED, http: 401, retryable: false, title: 'Unauthenticated' },
  PERMISSION_DENIED: { grpc: GrpcStatus.PERMISSION_DENIED, http: 403, retryable: false, title: 'Permission denied' },
  RESOURCE_EXHAUSTED: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 429, retryable: true, title: 'Resource exhausted' },
  CANCELLED: { grpc: GrpcStatus.CANCELLED, http: 499, retryable: false, title: 'Cancelled' },
  INTERNAL: { grpc: GrpcStatus.INTERNAL, http: 500, retryable: false, title: 'Internal error' },
  COORD_COMPACTED: { grpc: GrpcStatus.OUT_OF_RANGE, http: 410, retryable: false, title: 'Revision compacted' },
  COORD_FUTURE_REV: { grpc: GrpcStatus.OUT_OF_RANGE, http: 400, retryable: false, title: 'Future revision' },
  COORD_LEASE_NOT_FOUND: { grpc: GrpcStatus.NOT_FOUND, http: 404, retryable: false, title: 'Lease not found' },
  COORD_NOT_LEADER: { grpc: GrpcStatus.FAILED_PRECONDITION, http: 409, retryable: true, title: 'Leadership lost' },
  LISTEN_FAILED: { grpc: GrpcStatus.UNAVAILABLE, http: 503, retryable: false, title: 'Cannot listen' },
  FLOW_SPEC_INVALID: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 400, retryable: false, title: 'Invalid workflow spec' },
  KV_QUORUM_NOT_MET: { grpc: GrpcStatus.UNAVAILABLE, http: 503, retryable: true, title: 'Quorum not met' },
};

export interface FlotillaErrorOptions {
  /** The underlying error, for logs only. */
  cause?: unknown;
  /** Overrides the code's default retryability. */
  retryable?: boolean;
  /** Safe, structured details a client may see (e.g. the bad config key). */
  details?: Record<string, unknown>;
}

export class FlotillaError extends Error {
  override readonly name = 'FlotillaError';
  readonly code: Code;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;
  /** The message without the `[code]` prefix. */
  readonly rawMessage: string;

  constructor(code: Code, message: string, options: FlotillaErrorOptions = {}) {
    super(`[${code.toLowerCase()}] ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.rawMessage = message;
    this.retryable = options.retryable ?? mappings[code].retryable;
    this.details = options.details;
  }

  /** Normalises anything thrown into a FlotillaError; unknown errors become INTERNAL with the original as cause. */
  static from(err: unknown, fallback: Code = Code.INTERNAL): FlotillaError {
    if (err instanceof FlotillaError) return err;
    if (err instanceof Error) {
      const sys = err as NodeJS.ErrnoException;
      if (sys.code === 'EADDRINUSE' || sys.code === 'EACCES' || sys.code === 'EADDRNOTAVAIL') {
        return new FlotillaError(Code.LISTEN_FAILED, err.message, { cause: err });
      }
      if (sys.code === 'ECONNREFUSED' || sys.code === 'ECONNRESET' || sys.code === 'EHOSTUNREACH' || sys.code === 'ETIMEDOUT') {
        return new FlotillaError(Code.UNAVAILABLE, err.message, { cause: err });
      }
      return new FlotillaError(fallback, err.message, { cause: err });
    }
    return new FlotillaError(fallback, String(err), { cause: err });
  }

  get grpcStatus(): number {
    return mappings[this.code].grpc;
  }

  get httpStatus(): number {
    return mappings[this.code].http;
  }

  /** RFC 9457 problem details; never includes the cause or a stack trace. */
  toProblem(instance?: string): ProblemDetails {
    const m = mappings[this.code];
    const problem: ProblemDetails = {
      type: `urn:flotilla:error:${this.code.toLowerCase()}`,
      title: m.title,
      status: m.http,
      code: this.code,
      detail: this.rawMessage,
    };
    if (instance !== undefined) problem.instance = instance;
    if (this.details !== undefined) problem.details = this.details;
    return problem;
  }
}

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  code: Code;
  detail: string;
  instance?: string;
  details?: Record<string, unknown>;
}

export function isRetryable(err: unknown): boolean {
  return err instanceof FlotillaError ? err.retryable : false;
}
