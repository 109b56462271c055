/**
 * HTTP dates (RFC 9110 §5.6.7). We send IMF-fixdate only; recipients must also accept the two
 * obsolete formats, RFC 850 and asctime.
 */

/** IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (Date#toUTCString produces exactly this form). */
export function formatHttpDate(date: Date | number): string {
  return (typeof date === 'number' ? new Date(date) : date).toUTCString();
}

export const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT$/;
const RFC_850 = /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d\d)-([A-Z][a-z]{2})-(\d\d) (\d\d):(\d\d):(\d\d) GMT$/;
const ASCTIME = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})$/;

/**
 * Milliseconds since the epoch, or null when the text is not an HTTP date (such a field is then
 * ignored). `now` (milliseconds) places the two-digit years of the RFC 850 format; the core reads
 * no clock, so the caller passes it.
 */
export function parseHttpDate(text: string, now: number): number | null {
  let match = IMF_FIXDATE.exec(text);
  if (match) return build(match[3]!, match[2]!, match[1]!, match[4]!, match[5]!, match[6]!);
  match = RFC_850.exec(text);
  if (match) {
    // A two-digit year more than 50 years in the future means the past century (RFC 9110 §5.6.7).
    const shortYear = Number(match[3]);
    const currentYear = new Date(now).getUTCFullYear();
    let year = Math.floor(currentYear / 100) * 100 + shortYear;
    if (year > currentYear + 50) year -= 100;
    return build(String(year), match[2]!, match[1]!, match[4]!, match[5]!, match[6]!);
  }
  match = ASCTIME.exec(text);
  if (match) return build(match[6]!, match[1]!, match[2]!.trim(), match[3]!, match[4]!, match[5]!);
  return null;
}

function build(year: string, monthName: string, day: string, hour: string, minute: string, second: string): number | null {
  const month = MONTHS.indexOf(monthName);
  if (month === -1) return null;
  // setUTCFullYear, unlike Date.UTC, does not read years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(Number(year), month, Number(day));
  date.setUTCHours(Number(hour), Number(minute), Number(second));
  // Refuse impossible dates such as 31 Feb instead of letting Date roll them over.
  if (date.getUTCDate() !== Number(day) || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 60) return null;
  return date.getTime();
}
