import { HttpException, HttpStatus } from '@nestjs/common';

/** An error the caller should retry after a while; the error filter sends `Retry-After`. */
export class RetryLaterException extends HttpException {
  constructor(
    message: string,
    status: HttpStatus,
    readonly retryAfterSeconds: number,
    /** Reported elsewhere already: the filter writes no log line for it (see MappedError). */
    readonly quiet = false,
  ) {
    super(message, status);
  }
}

/** 429 that carries how long to wait; the error filter turns it into `Retry-After`. */
export class TooManyRequestsException extends RetryLaterException {
  constructor(message: string, retryAfterSeconds: number) {
    super(message, HttpStatus.TOO_MANY_REQUESTS, retryAfterSeconds);
  }
}
