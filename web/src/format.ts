import type { AccountType } from './types';

const DAY = 86_400_000;
const numberFormat = new Intl.NumberFormat();
const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dateFormat = new Intl.DateTimeFormat(undefined, {
  day: 'numeric',
  month: 'short',
  year: 'numeric',
});
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'medium',
  timeStyle: 'short',
});

export const count = (n: number | null | undefined): string =>
  typeof n === 'number' ? numberFormat.format(n) : '–';

/** "+1,204", "−36", "no change". */
export function signed(n: number): string {
  if (n === 0) return 'no change';
  return `${n > 0 ? '+' : '−'}${numberFormat.format(Math.abs(n))}`;
}

const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['year', 365 * DAY],
  ['month', 30 * DAY],
  ['week', 7 * DAY],
  ['day', DAY],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

/** "5 minutes ago", "in 3 days", "just now". */
export function relative(iso: string, now: number): string {
  const diff = Date.parse(iso) - now;
  const abs = Math.abs(diff);
  if (abs < 45_000) return 'just now';
  for (const [unit, ms] of UNITS) {
    if (abs >= ms || unit === 'minute') return relativeFormat.format(Math.round(diff / ms), unit);
  }
  return 'just now';
}

/** A moment in the person's own time zone: "2:05 PM" today, else "Dec 3, 2026, 2:05 PM". */
export function localMoment(iso: string, now: number): string {
  const date = new Date(iso);
  const sameDay = new Date(now).toDateString() === date.toDateString();
  return sameDay ? timeFormat.format(date) : dateTimeFormat.format(date);
}

export const fullDate = (iso: string): string => dateFormat.format(new Date(iso));
export const fullDateTime = (iso: string): string => dateTimeFormat.format(new Date(iso));

/** Whole days left until `iso`, rounded up (0 once it has passed). */
export function daysUntil(iso: string, now: number): number {
  return Math.max(0, Math.ceil((Date.parse(iso) - now) / DAY));
}

export const ACCOUNT_TYPE_WORDS: Record<AccountType, string> = {
  business: 'Business',
  creator: 'Creator',
  personal: 'Personal',
};

export const plural = (n: number, one: string, many: string): string =>
  `${numberFormat.format(n)} ${n === 1 ? one : many}`;

/** Initials for a picture that is missing or failed to load. */
export function initials(name: string): string {
  const letters = name
    .split(/[\s._|-]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((word) => [...word][0]?.toUpperCase() ?? '');
  return letters.join('') || '?';
}

/** A text field of a submitted form, trimmed ('' when absent). */
export function formText(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === 'string' ? value.trim() : '';
}
