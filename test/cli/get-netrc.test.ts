/**
 * `sockhttp get --netrc-file`: the `default` entry of a netrc file gives the credentials for every
 * host that has no `machine` entry of its own, as curl reads it. The server is node:http, echoing
 * the Authorization field it was sent.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTempDir, runCli } from '../helpers.js';

const basic = (login: string, password: string) => `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`;

describe('sockhttp get --netrc-file: the default entry', () => {
  const dir = makeTempDir();
  let server: Server;
  let url: string;
  before(async () => {
    server = createServer((request, response) => response.end(request.headers.authorization ?? '(none)'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    dir.remove();
  });

  const sentWith = async (netrc: string) => {
    const file = join(dir.path, 'netrc');
    writeFileSync(file, netrc);
    const result = await runCli(['get', '--max-time', '20', '--netrc-file', file, url]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.toString();
  };

  test('a file holding only a default entry gives it to any host', async () => {
    assert.equal(await sentWith('default login dee password pw\n'), basic('dee', 'pw'));
  });

  test('the default entry, after machines that are not this host', async () => {
    assert.equal(await sentWith('machine other.example login x password y\ndefault login dee password pw\n'), basic('dee', 'pw'));
  });

  test("the host's own machine entry comes first, wherever the default is", async () => {
    assert.equal(await sentWith('default login dee password pw\nmachine 127.0.0.1 login ann password pw1\n'), basic('ann', 'pw1'));
    assert.equal(await sentWith('machine 127.0.0.1 login ann password pw1\ndefault login dee password pw\n'), basic('ann', 'pw1'));
  });

  test('"default" as a value (a password) is a value, and comments are skipped', async () => {
    assert.equal(await sentWith('# my hosts\nmachine 127.0.0.1 login ann password default # old\n'), basic('ann', 'default'));
  });

  test('no machine entry and no default: no credentials', async () => {
    assert.equal(await sentWith('machine other.example login x password y\n'), '(none)');
  });
});
