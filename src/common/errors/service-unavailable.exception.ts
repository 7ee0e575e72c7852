import { HttpStatus } from '@nestjs/common';
import { RetryLaterException } from './too-many-requests.exception';

/** 503 with `Retry-After`: a dependency (the database) is down, and will likely be back soon. */
export class ServiceUnavailableRetryException extends RetryLaterException {
  constructor(message: string, retryAfterSeconds: number, quiet = false) {
    super(message, HttpStatus.SERVICE_UNAVAILABLE, retryAfterSeconds, quiet);
  }
}
