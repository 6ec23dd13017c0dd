/** What a redaction pass replaced, by kind. */
export interface RedactionCounts {
  emails: number;
  phones: number;
  apiKeys: number;
}

export const REDACTED = { email: '[REDACTED_EMAIL]', phone: '[REDACTED_PHONE]', apiKey: '[REDACTED_API_KEY]' } as const;

// API keys first: they may contain digits and dashes that the phone pattern would otherwise see.
const API_KEY_PATTERNS: RegExp[] = [
  /\bsk-ant-[A-Za-z0-9_-]{8,}/g, // Anthropic
  /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}/g, // OpenAI
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, // AWS access key ids
  /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{20,}/g,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g, // Slack
];
const BEARER = /\b(Bearer\s+)([A-Za-z0-9._~+/-]{8,}=*)/g;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
// A phone number: optional +country code, optional (area), then groups split by space, dot or dash.
// Only matches with 9 to 15 digits count, so dates, versions and short numbers are left alone.
const PHONE = /(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?![\w])/g;

/** Replaces emails, phone numbers and API keys in `text`, adding what it replaced to `counts`. */
export function redact(text: string, counts: RedactionCounts): string {
  let out = text;
  for (const re of API_KEY_PATTERNS) {
    out = out.replace(re, () => {
      counts.apiKeys++;
      return REDACTED.apiKey;
    });
  }
  out = out.replace(BEARER, (_, prefix: string, token: string) => {
    if (token === REDACTED.apiKey || token.startsWith('[REDACTED')) return `${prefix}${token}`;
    counts.apiKeys++;
    return `${prefix}${REDACTED.apiKey}`;
  });
  out = out.replace(EMAIL, () => {
    counts.emails++;
    return REDACTED.email;
  });
  out = out.replace(PHONE, (m) => {
    const digits = m.replace(/\D/g, '').length;
    // Without a + or (area code), a phone number has separators between groups of digits.
    if (digits < 9 || digits > 15) return m;
    if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(m)) return m; // an IPv4 address
    counts.phones++;
    return REDACTED.phone;
  });
  return out;
}
