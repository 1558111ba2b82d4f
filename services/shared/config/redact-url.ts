/**
 * A URL as it may be printed: user name and password replaced by `***`. Works on strings that are
 * not valid URLs too (an invalid value is echoed in the configuration error).
 */
export function redactUrl(value: string): string {
  return value.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/?#@]*@/, '$1***@');
}

/** Splits credentials out of a URL: the URL without them, and the decoded user name and password. */
export function splitUrlCredentials(value: string): { url: string; username: string | null; password: string | null } {
  const parsed = new URL(value);
  if (!parsed.username && !parsed.password) return { url: value, username: null, password: null };
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString().replace(/\/+$/, ''), username: username || null, password: password || null };
}
