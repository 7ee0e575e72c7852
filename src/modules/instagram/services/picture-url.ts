/**
 * Instagram's picture links are signed CDN URLs: the path names the picture, the query
 * (`oh`, `oe`, …) only signs it, and changes every time the profile is read.
 */
export function picturePath(url: string | undefined | null): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).pathname;
  } catch {
    return undefined;
  }
}

/** The link's expiry: `oe` is hex Unix seconds; after it the CDN answers 403. */
export function pictureLinkExpiresAt(url: string | undefined | null): Date | undefined {
  if (!url) return undefined;
  let oe: string | null;
  try {
    oe = new URL(url).searchParams.get('oe');
  } catch {
    return undefined;
  }
  if (!oe || !/^[0-9A-Fa-f]{1,12}$/.test(oe)) return undefined;
  return new Date(parseInt(oe, 16) * 1000);
}
