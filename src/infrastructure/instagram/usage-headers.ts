/**
 * Meta's usage headers (Graph API rate limiting). Both are JSON in a header value; a malformed
 * header must never break an otherwise successful call, so every parser here returns `undefined`
 * (or drops the bad entry) instead of throwing.
 */

/** `X-App-Usage`: whole-number percentages of the app's rolling one-hour budget. */
export interface AppUsage {
  callCount: number;
  totalTime: number;
  totalCputime: number;
}

/** One entry of `X-Business-Use-Case-Usage`, keyed by a business object (the IG account id). */
export interface BusinessUseCaseUsage {
  businessId: string;
  type: string;
  callCount: number;
  totalTime: number;
  totalCputime: number;
  /** Meta gives this in minutes; 0 when not throttled. */
  estimatedTimeToRegainAccessMinutes: number;
}

export interface InstagramUsage {
  app?: AppUsage;
  businessUseCase?: BusinessUseCaseUsage[];
  observedAt: Date;
}

export type HttpHeaders = Readonly<Record<string, string | string[] | undefined>>;

export const APP_USAGE_HEADER = 'x-app-usage';
export const BUSINESS_USE_CASE_USAGE_HEADER = 'x-business-use-case-usage';

// Far above anything Meta sends (up to 32 business objects); bounds the work on hostile input.
const MAX_HEADER_LENGTH = 64 * 1024;
const MAX_BUC_ENTRIES = 256;

/** Case-insensitive header lookup; a repeated header counts by its first value. */
export function headerValue(headers: HttpHeaders, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted) continue;
    return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

function parseObject(header: string | undefined): Record<string, unknown> | undefined {
  if (typeof header !== 'string' || header.length === 0 || header.length > MAX_HEADER_LENGTH) {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(header);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Absent → 0; a finite number or numeric string → that number; anything else → undefined. */
function metric(value: unknown): number | undefined {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  return undefined;
}

export function parseAppUsage(header: string | undefined): AppUsage | undefined {
  const raw = parseObject(header);
  if (!raw) return undefined;
  const callCount = metric(raw.call_count);
  const totalTime = metric(raw.total_time);
  const totalCputime = metric(raw.total_cputime);
  if (callCount === undefined || totalTime === undefined || totalCputime === undefined) {
    return undefined;
  }
  return { callCount, totalTime, totalCputime };
}

export function parseBusinessUseCaseUsage(
  header: string | undefined,
): BusinessUseCaseUsage[] | undefined {
  const raw = parseObject(header);
  if (!raw) return undefined;
  const entries: BusinessUseCaseUsage[] = [];
  for (const [businessId, list] of Object.entries(raw)) {
    if (!Array.isArray(list)) continue;
    for (const item of list as unknown[]) {
      if (entries.length >= MAX_BUC_ENTRIES) return entries;
      const entry = parseBucEntry(businessId, item);
      if (entry) entries.push(entry);
    }
  }
  return entries;
}

function parseBucEntry(businessId: string, item: unknown): BusinessUseCaseUsage | undefined {
  if (!isRecord(item)) return undefined;
  const callCount = metric(item.call_count);
  const totalTime = metric(item.total_time);
  const totalCputime = metric(item.total_cputime);
  const regain = metric(item.estimated_time_to_regain_access);
  if (
    callCount === undefined ||
    totalTime === undefined ||
    totalCputime === undefined ||
    regain === undefined
  ) {
    return undefined;
  }
  return {
    businessId,
    type: typeof item.type === 'string' ? item.type : 'unknown',
    callCount,
    totalTime,
    totalCputime,
    estimatedTimeToRegainAccessMinutes: regain,
  };
}

/** Both usage headers of one response; `undefined` when the response carried neither. */
export function parseUsageHeaders(headers: HttpHeaders, now: Date): InstagramUsage | undefined {
  const app = parseAppUsage(headerValue(headers, APP_USAGE_HEADER));
  const businessUseCase = parseBusinessUseCaseUsage(
    headerValue(headers, BUSINESS_USE_CASE_USAGE_HEADER),
  );
  if (!app && !businessUseCase) return undefined;
  return {
    ...(app ? { app } : {}),
    ...(businessUseCase ? { businessUseCase } : {}),
    observedAt: now,
  };
}

/** When the most throttled business object regains access, if any reports a wait. */
export function businessUseCaseRegainAt(
  entries: readonly BusinessUseCaseUsage[] | undefined,
  now: Date,
): Date | undefined {
  const minutes = Math.max(0, ...(entries ?? []).map((e) => e.estimatedTimeToRegainAccessMinutes));
  return minutes > 0 ? new Date(now.getTime() + minutes * 60_000) : undefined;
}
