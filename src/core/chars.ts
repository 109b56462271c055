// Character classes of RFC 9110 §5.6.2 and RFC 9112 §3, as 256-entry lookup tables.
// A table lookup per byte is the cheapest check there is, and it keeps every grammar rule in one place.

function table(accepts: (byte: number) => boolean): Uint8Array {
  const result = new Uint8Array(256);
  for (let byte = 0; byte < 256; byte++) result[byte] = accepts(byte) ? 1 : 0;
  return result;
}

const isDigit = (byte: number) => byte >= 0x30 && byte <= 0x39;
const isAlpha = (byte: number) => (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
const TOKEN_SYMBOLS = "!#$%&'*+-.^_`|~";

/** tchar (RFC 9110 §5.6.2): the characters of a method, a field name, a transfer coding. */
export const TCHAR = table((byte) => isDigit(byte) || isAlpha(byte) || TOKEN_SYMBOLS.includes(String.fromCharCode(byte)));

/**
 * Octets allowed inside a field value (RFC 9110 §5.5): VCHAR, obs-text, SP and HTAB.
 * Everything else — NUL, CR, LF and the other controls, DEL — is refused, which is what stops
 * header injection and the smuggling tricks that hide a bare CR in a value.
 */
export const FIELD_VALUE_CHAR = table((byte) => byte === 0x09 || (byte >= 0x20 && byte !== 0x7f));

/**
 * Octets allowed in a request-target. RFC 3986 allows only visible ASCII; we refuse raw UTF-8 and
 * controls instead of guessing (RFC 9112 §3.2 warns against autocorrecting a request line).
 */
export const TARGET_CHAR = table((byte) => byte >= 0x21 && byte <= 0x7e);

/** reason-phrase (RFC 9112 §4): HTAB, SP, VCHAR, obs-text. */
export const REASON_CHAR = FIELD_VALUE_CHAR;

export const HEX_VALUE = (() => {
  const result = new Int8Array(256).fill(-1);
  for (let digit = 0; digit < 10; digit++) result[0x30 + digit] = digit;
  for (let letter = 0; letter < 6; letter++) {
    result[0x41 + letter] = 10 + letter;
    result[0x61 + letter] = 10 + letter;
  }
  return result;
})();

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;

export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff || TCHAR[code] === 0) return false;
  }
  return true;
}

export function isFieldValue(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff || FIELD_VALUE_CHAR[code] === 0) return false;
  }
  return true;
}
