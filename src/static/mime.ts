import mime from 'mime-types';

/**
 * The Content-Type of a file, from the mime-db database through the mime-types library: text types
 * get "; charset=utf-8". Files whose type is unknown are sent as application/octet-stream, which
 * browsers download instead of guessing (and then sniffing) a type.
 */
export function contentTypeFor(fileName: string): string {
  return mime.contentType(fileName) || 'application/octet-stream';
}
