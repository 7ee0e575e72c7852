import { BadRequestException } from '@nestjs/common';

/**
 * The deepest JSON a request body may have. Real bodies here are two or three levels deep; the
 * limit only has to stop the recursion downstream (class-transformer and class-validator walk
 * bodies recursively and overflow the stack at a few thousand levels) and the cost of building
 * structures half a million levels deep from a 1 MB body.
 */
export const MAX_JSON_DEPTH = 32;

export const NUL_MESSAGE =
  'Text values may not contain NUL (\\u0000) characters; the database cannot store them';

/**
 * Whether the JSON text nests arrays or objects deeper than `max`, found by one pass over the
 * text before it is parsed. Brackets inside strings do not count; malformed text is left for the
 * parser to refuse.
 */
export function exceedsJsonDepth(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** Whether any string in `value` (a key, or a value at any depth) holds a NUL character. */
export function containsNul(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === 'string') {
      if (next.includes('\u0000')) return true;
    } else if (Array.isArray(next)) {
      pending.push(...(next as unknown[]));
    } else if (typeof next === 'object' && next !== null) {
      for (const [key, item] of Object.entries(next)) {
        if (key.includes('\u0000')) return true;
        pending.push(item);
      }
    }
  }
  return false;
}

export class JsonTooDeepException extends BadRequestException {
  constructor() {
    super(`JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
}

export class NulCharacterException extends BadRequestException {
  constructor() {
    super(NUL_MESSAGE);
  }
}
