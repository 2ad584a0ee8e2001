/**
 * S3 errors as the wire knows them: an S3 code (NoSuchKey, SignatureDoesNotMatch, ...) and its HTTP
 * status. They stay inside the S3 front end and leave it only as the XML error document (xml.ts);
 * FlotillaErrors from the object service are mapped to them at the edge (`fromServiceError`).
 */
import { Code, FlotillaError } from '../../core/errors.js';

const statusOf = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  BadDigest: 400,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidURI: 400,
  KeyTooLongError: 400,
  MalformedXML: 400,
  MetadataTooLarge: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  MissingSecurityHeader: 400,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NotImplemented: 501,
  NotModified: 304,
  PreconditionFailed: 412,
  RequestTimeTooSkewed: 403,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  XAmzContentSHA256Mismatch: 400,
} as const;

export type S3ErrorCode = keyof typeof statusOf;

export class S3Error extends Error {
  override readonly name = 'S3Error';
  readonly status: number;
  /** Extra elements of the error document (e.g. StringToSign for SignatureDoesNotMatch). */
  readonly extra: Record<string, string>;

  constructor(
    readonly code: S3ErrorCode,
    message: string,
    extra: Record<string, string> = {},
  ) {
    super(message);
    this.status = statusOf[code];
    this.extra = extra;
  }
}

/** What an object-service call was about, to pick NoSuchBucket / NoSuchKey / NoSuchUpload. */
export type ServiceSubject = 'bucket' | 'object' | 'upload';

/** Maps an error thrown by the ObjectService (ideally a FlotillaError) to the S3 error a client expects. */
export function fromServiceError(err: unknown, subject: ServiceSubject): S3Error {
  if (err instanceof S3Error) return err;
  const fe = FlotillaError.from(err);
  switch (fe.code) {
    case Code.NOT_FOUND:
      return new S3Error(subject === 'bucket' ? 'NoSuchBucket' : subject === 'upload' ? 'NoSuchUpload' : 'NoSuchKey', fe.rawMessage);
    case Code.ALREADY_EXISTS:
      return new S3Error('BucketAlreadyOwnedByYou', fe.rawMessage);
    case Code.FAILED_PRECONDITION:
      return subject === 'bucket' ? new S3Error('BucketNotEmpty', fe.rawMessage) : new S3Error('InvalidRequest', fe.rawMessage);
    case Code.INVALID_ARGUMENT:
      return new S3Error(subject === 'bucket' ? 'InvalidBucketName' : 'InvalidArgument', fe.rawMessage);
    case Code.PERMISSION_DENIED:
    case Code.UNAUTHENTICATED:
      return new S3Error('AccessDenied', fe.rawMessage);
    case Code.UNAVAILABLE:
    case Code.DEADLINE_EXCEEDED:
    case Code.RESOURCE_EXHAUSTED:
      return new S3Error('ServiceUnavailable', fe.rawMessage);
    default:
      return new S3Error('InternalError', 'We encountered an internal error. Please try again.');
  }
}
