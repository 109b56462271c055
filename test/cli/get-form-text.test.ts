/**
 * `sockhttp get -F`: a text part (NAME=TEXT, or NAME=<FILE) is sent byte for byte, its line breaks
 * as given, as curl sends it; form-data-encoder alone would make each one CRLF, as browsers do.
 * The server is node:http, echoing the raw body.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTempDir, runCli } from '../helpers.js';

describe('sockhttp get -F: text parts keep their line breaks', () => {
  const dir = makeTempDir();
  let server: Server;
  let url: string;
  before(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => response.end(Buffer.concat(chunks)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    dir.remove();
  });

  /** The parts of the multipart body the server received, each between two boundaries. */
  const partsSent = async (args: string[]) => {
    const result = await runCli(['get', '--max-time', '20', ...args, url]);
    assert.equal(result.code, 0, result.stderr);
    const body = result.stdout.toString('latin1');
    const boundary = body.slice(0, body.indexOf('\r\n'));
    return body.split(boundary).slice(1, -1);
  };

  test('NAME=TEXT: LF, CR and CRLF as given', async () => {
    const [part] = await partsSent(['-F', 'note=one\ntwo\rthree\r\nfour']);
    assert.equal(part, '\r\nContent-Disposition: form-data; name="note"\r\n\r\none\ntwo\rthree\r\nfour\r\n');
  });

  test('NAME=<FILE: the bytes of the file, as for NAME=@FILE', async () => {
    writeFileSync(join(dir.path, 'text.txt'), Buffer.from('a\nb\r\nc\xff\n', 'latin1'));
    const [inline, file] = await partsSent(['-F', `inline=<${join(dir.path, 'text.txt')}`, '-F', `up=@${join(dir.path, 'text.txt')}`]);
    assert.equal(inline, '\r\nContent-Disposition: form-data; name="inline"\r\n\r\na\nb\r\nc\xff\n\r\n');
    assert.match(file!, /\r\n\r\na\nb\r\nc\xff\n\r\n$/);
  });
});
