import { BadRequestException } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { UUID_PATTERN as UUID } from '../../../common/uuid';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export const LIMIT_MESSAGE = `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`;
export const CURSOR_MESSAGE =
  'cursor is not valid: pass nextCursor from the previous page unchanged';

/** `?limit&cursor` of every keyset-paginated list. */
export class PageQueryDto {
  @ApiPropertyOptional({
    description: 'Page size',
    minimum: 1,
    maximum: MAX_PAGE_SIZE,
    default: DEFAULT_PAGE_SIZE,
    type: Number,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: LIMIT_MESSAGE })
  @Min(1, { message: LIMIT_MESSAGE })
  @Max(MAX_PAGE_SIZE, { message: LIMIT_MESSAGE })
  limit?: number;

  @ApiPropertyOptional({
    description: 'Opaque: the `nextCursor` of the previous page. Absent for the first page.',
    maxLength: 512,
    type: String,
  })
  @IsOptional()
  @IsString({ message: CURSOR_MESSAGE })
  @MaxLength(512, { message: CURSOR_MESSAGE })
  @Matches(/^[A-Za-z0-9_-]+$/, { message: CURSOR_MESSAGE })
  cursor?: string;

  /**
   * The common query (`?limit=50`, `?limit=50&cursor=…`, none) as the decorators would give it,
   * without running them (FastValidationPipe); undefined for anything else, which then goes
   * through class-validator and gets its usual 400.
   */
  static parsePlain(value: unknown): PageQueryDto | undefined {
    if (typeof value !== 'object' || value === null) return undefined;
    const dto = new PageQueryDto();
    for (const [key, raw] of Object.entries(value)) {
      if (key === 'limit' && typeof raw === 'string' && PLAIN_LIMIT.test(raw)) {
        const limit = Number(raw);
        if (limit > MAX_PAGE_SIZE) return undefined;
        dto.limit = limit;
      } else if (key === 'cursor' && typeof raw === 'string' && PLAIN_CURSOR.test(raw)) {
        dto.cursor = raw;
      } else {
        return undefined;
      }
    }
    return dto;
  }
}

const PLAIN_LIMIT = /^[1-9][0-9]{0,2}$/;
const PLAIN_CURSOR = /^[A-Za-z0-9_-]{1,512}$/;

/** A position in a `created_at DESC, id DESC` list (the repositories' cursor shape). */
export interface KeysetCursor {
  /** PostgreSQL's microsecond-precision UTC time, e.g. 2025-01-01T10:00:00.123456Z. */
  createdAt: string;
  id: string;
}

const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export function encodeCursor(cursor: KeysetCursor): string {
  return Buffer.from(JSON.stringify({ createdAt: cursor.createdAt, id: cursor.id })).toString(
    'base64url',
  );
}

/** The cursor inside an opaque string; anything else is the client's mistake (400). */
export function decodeCursor(raw: string): KeysetCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw new BadRequestException(CURSOR_MESSAGE);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadRequestException(CURSOR_MESSAGE);
  }
  const { createdAt, id, ...rest } = parsed as Record<string, unknown>;
  if (
    Object.keys(rest).length > 0 ||
    typeof createdAt !== 'string' ||
    !CURSOR_TIME.test(createdAt) ||
    Number.isNaN(Date.parse(createdAt)) ||
    typeof id !== 'string' ||
    !UUID.test(id)
  ) {
    throw new BadRequestException(CURSOR_MESSAGE);
  }
  return { createdAt, id };
}

/** The page size a service method got, checked again: services are called from jobs too. */
export function pageSize(limit: number | undefined): number {
  const size = limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new BadRequestException(LIMIT_MESSAGE);
  }
  return size;
}
