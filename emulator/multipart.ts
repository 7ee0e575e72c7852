/**
 * Text fields of a multipart/form-data body (what `curl -F` sends, as in Meta's examples).
 * Enough for the code exchange; files are not supported. Returns undefined when malformed.
 */
export function parseMultipart(
  body: string,
  contentType: string,
): Record<string, string> | undefined {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const marker = boundary?.[1] ?? boundary?.[2];
  if (!marker) return undefined;
  const fields: Record<string, string> = {};
  const parts = body.split(`--${marker}`);
  // The preamble precedes the first delimiter; the epilogue follows the closing `--`.
  for (const part of parts.slice(1)) {
    if (part.startsWith('--')) break;
    const split = part.indexOf('\r\n\r\n');
    if (split < 0) return undefined;
    const headers = part.slice(0, split);
    const name = /content-disposition:[^\r\n]*\bname="([^"]*)"/i.exec(headers)?.[1];
    if (name === undefined) return undefined;
    fields[name] = part.slice(split + 4).replace(/\r\n$/, '');
  }
  return fields;
}
