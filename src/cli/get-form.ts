/**
 * -F/--form: multipart/form-data content (RFC 7578), encoded by form-data-encoder, which only makes
 * bytes (the request is ours). Loaded only when -F is given: the encoder and the MIME database are
 * not worth loading for every `get`.
 */
import { basename } from 'node:path';
import { FormDataEncoder } from 'form-data-encoder';
import { lookup } from 'mime-types';
import { type Content, readArgumentFile } from './get-content.js';
import { UsageError } from './options.js';

/**
 * One -F part, as curl reads it: NAME=VALUE, NAME=@FILE (a file, sent with its name, optionally
 * followed by ;type=MIME and ;filename=NAME), NAME=<FILE (a text field holding the file's content).
 */
async function addFormPart(form: FormData, spec: string): Promise<Buffer | null> {
  const equals = spec.indexOf('=');
  if (equals <= 0) throw new UsageError(`-F must look like NAME=VALUE, NAME=@FILE or NAME=<FILE, not '${spec}'`);
  const name = spec.slice(0, equals);
  let value = spec.slice(equals + 1);
  const parameters = new Map<string, string>();
  if (value.startsWith('@') || value.startsWith('<')) {
    // Parameters follow the file name after ';' (curl does the same; a file name with ';' needs quotes there).
    const [path, ...rest] = value.split(';');
    for (const parameter of rest) {
      const at = parameter.indexOf('=');
      if (at > 0) parameters.set(parameter.slice(0, at).trim().toLowerCase(), parameter.slice(at + 1).trim());
    }
    value = path!;
  }
  const type = parameters.get('type');
  if (value.startsWith('@')) {
    const bytes = await readArgumentFile(value, '-F');
    const fileName = parameters.get('filename') ?? (value === '@-' ? '-' : basename(value.slice(1)));
    const contentType = type ?? (lookup(fileName) || 'application/octet-stream');
    form.append(name, new File([bytes], fileName, { type: contentType }));
    return null;
  }
  // A text part has no Content-Type (;type= is for files); its bytes are sent as they are, line
  // breaks included, as curl does (see formContent).
  const text = value.startsWith('<') ? await readArgumentFile(value, '-F') : Buffer.from(value, 'utf8');
  form.append(name, text.toString('utf8'));
  return text;
}

/** -F parts as one multipart/form-data body (RFC 7578). */
export async function formContent(specs: readonly string[]): Promise<Content> {
  const form = new FormData();
  const texts: Array<Buffer | null> = [];
  for (const spec of specs) texts.push(await addFormPart(form, spec));
  const encoder = new FormDataEncoder(form);
  // form-data-encoder writes a text value as a browser does (the HTML standard: every line break
  // made CRLF); curl sends the text as given. Its values() yields each part's head, value and CRLF,
  // then the closing boundary: a text part's value is replaced by the text's own bytes.
  const chunks: Uint8Array[] = [];
  let index = 0;
  for (const piece of encoder.values()) {
    const part = Math.floor(index / 3);
    const isValue = index % 3 === 1 && part < texts.length;
    index++;
    if (!isValue) chunks.push(piece as Uint8Array);
    else chunks.push(texts[part] ?? Buffer.from(await (piece as File).arrayBuffer()));
  }
  return { body: Buffer.concat(chunks), fields: [['Content-Type', encoder.contentType]] };
}
