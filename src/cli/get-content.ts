/**
 * What `sockhttp get` sends as content: -d/--data-binary (a form), --json and -T/--upload-file;
 * -F/--form is in get-form.ts, loaded only when used.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { FieldLine } from '../index.js';
import { CommandError } from './get-errors.js';
import { UsageError } from './options.js';

export interface Content {
  body: Buffer;
  fields: FieldLine[];
}

export async function readArgumentFile(reference: string, what: string): Promise<Buffer> {
  const path = reference.slice(1);
  try {
    if (path === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    }
    return await readFile(path);
  } catch (error) {
    throw new CommandError(
      'read-failed',
      `cannot read ${what} ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
}

/**
 * The request content of -d, --data-binary and --json, and the fields that describe it. As in curl,
 * -d @FILE drops the file's line breaks, several -d are joined with '&', and JSON pieces are
 * concatenated.
 */
export async function requestContent(values: {
  data?: string[];
  'data-binary'?: string[];
  json?: string[];
}): Promise<{ body: Buffer; fields: FieldLine[] } | null> {
  const forms = [
    ...(values.data ?? []).map((value) => ({ value, exact: false })),
    ...(values['data-binary'] ?? []).map((value) => ({ value, exact: true })),
  ];
  const json = values.json ?? [];
  if (forms.length > 0 && json.length > 0) throw new UsageError('use --json or -d/--data-binary, not both');
  if (json.length > 0) {
    const pieces = await Promise.all(
      json.map((value) => (value.startsWith('@') ? readArgumentFile(value, '--json') : Buffer.from(value, 'utf8'))),
    );
    return {
      body: Buffer.concat(pieces),
      fields: [
        ['Content-Type', 'application/json'],
        ['Accept', 'application/json'],
      ],
    };
  }
  if (forms.length === 0) return null;
  const pieces = await Promise.all(
    forms.map(async ({ value, exact }) => {
      if (!value.startsWith('@')) return Buffer.from(value, 'utf8');
      const bytes = await readArgumentFile(value, exact ? '--data-binary' : '--data');
      return exact ? bytes : Buffer.from(bytes.toString('latin1').replace(/[\r\n]/g, ''), 'latin1');
    }),
  );
  const joined = pieces.flatMap((piece, index) => (index === 0 ? [piece] : [Buffer.from('&'), piece]));
  return { body: Buffer.concat(joined), fields: [['Content-Type', 'application/x-www-form-urlencoded']] };
}

/** -T FILE: the file's bytes (- for stdin), and the URL with the file's name when it ends in '/', as curl does. */
export async function uploadContent(path: string, url: string): Promise<{ body: Buffer; url: string }> {
  const body = await readArgumentFile(`@${path}`, '-T');
  const target = url.endsWith('/') && path !== '-' ? `${url}${encodeURIComponent(basename(path))}` : url;
  return { body, url: target };
}

/** -G: the -d data after the URL's query instead of in the content. */
export function withQuery(url: string, content: Content | null): string {
  if (content === null || content.body.length === 0) return url;
  const hash = url.indexOf('#');
  const [base, fragment] = hash === -1 ? [url, ''] : [url.slice(0, hash), url.slice(hash)];
  return `${base}${base.includes('?') ? '&' : '?'}${content.body.toString('latin1')}${fragment}`;
}
