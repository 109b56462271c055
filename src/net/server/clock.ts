import { formatHttpDate } from '../../core/http-date.js';

let cachedSecond = -1;
let cachedDate = '';

/**
 * The Date field value for now. Formatting a date costs more than the rest of a small response head,
 * and the value only changes once a second, so it is formatted once per second at most.
 */
export function httpDateNow(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedDate = formatHttpDate(second * 1000);
  }
  return cachedDate;
}
