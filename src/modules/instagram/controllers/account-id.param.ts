import { BadRequestException, Param, ParseUUIDPipe } from '@nestjs/common';

export const MALFORMED_ACCOUNT_ID = 'id must be a UUID (an account id)';

/** The `:id` of an account route: a malformed one is a 400 before anything is read. */
export const AccountIdParam = () =>
  Param(
    'id',
    new ParseUUIDPipe({ exceptionFactory: () => new BadRequestException(MALFORMED_ACCOUNT_ID) }),
  );
