import { z } from 'zod';

/**
 * Response shapes of the Instagram API with Instagram Login. Bodies are parsed with
 * `parseJsonKeepingBigIntegers` first, so an id arrives either as a string (exact digits) or as a
 * number small enough to be exact.
 */

const id = z
  .union([z.string().regex(/^\d{1,40}$/, 'must be a decimal id'), z.number().int().nonnegative()])
  .transform(String);

const count = z
  .union([z.number(), z.string().regex(/^\d{1,15}$/)])
  .transform(Number)
  .pipe(z.number().int().nonnegative().safe());

const optionalText = z
  .string()
  .nullish()
  .transform((v) => (v === null || v === '' ? undefined : v));

const optionalCount = count.nullish().transform((v) => v ?? undefined);

/** Meta documents `{data:[item]}`; production clients read the fields flat. Accept both. */
export function unwrapData(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && 'data' in value) {
    const data = value.data;
    if (Array.isArray(data)) return data[0];
  }
  return value;
}

const permissions = z
  .union([z.string(), z.array(z.string())])
  .nullish()
  .transform((v) => {
    const list = typeof v === 'string' ? v.split(',') : (v ?? []);
    return [...new Set(list.map((p) => p.trim()).filter(Boolean))];
  });

export const codeExchangeSchema = z.preprocess(
  unwrapData,
  z.object({
    access_token: z.string().min(1),
    user_id: id,
    permissions,
  }),
);

export const longLivedTokenSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().min(1).default('bearer'),
  expires_in: count,
});

export const PROFILE_FIELDS = [
  'user_id',
  'username',
  'name',
  'account_type',
  'profile_picture_url',
  'followers_count',
  'follows_count',
  'media_count',
  'biography',
  'website',
  'id',
] as const;

/** What a profile can do without; `id`, `user_id` and `username` it cannot. */
export const OPTIONAL_PROFILE_FIELDS: ReadonlySet<string> = new Set(
  PROFILE_FIELDS.filter((f) => f !== 'id' && f !== 'user_id' && f !== 'username'),
);

export const profileSchema = z.preprocess(
  unwrapData,
  z.object({
    id,
    user_id: id,
    username: z.string().min(1),
    name: optionalText,
    account_type: optionalText,
    profile_picture_url: optionalText,
    followers_count: optionalCount,
    follows_count: optionalCount,
    media_count: optionalCount,
    biography: optionalText,
    website: optionalText,
  }),
);
