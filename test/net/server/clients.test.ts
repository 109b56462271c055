/**
 * Our static server, driven by clients nobody here wrote: curl, Python's http.client and Node's
 * fetch (undici). Where a client would normalize or refuse what we want to send, a raw socket does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RunningServer, commandExists, makeTempDir, rawExchange, startStaticServer } from '../../helpers.js';
import {
  FIXTURE_MTIME_HTTP,
  IMF_FIXDATE,
  RawConnection,
  curl,
  parseSingleResponse,
  pythonField,
  pythonRequests,
  writeTree,
} from './helpers.js';

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
const WASM = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

const FILES: Record<string, string | Buffer> = {
  'index.html': '<!doctype html><title>home</title><p>home page</p>\n',
  'style.css': 'body { color: teal; }\n',
  'app.js': 'console.log("app");\n',
  'module.mjs': 'export const answer = 42;\n',
  'data.json': '{"answer":42}\n',
  'picture.svg': '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n',
  'module.wasm': WASM,
  'picture.png': PNG,
  'plain.txt': 'plain text\n',
  'docs/index.html': '<p>docs index</p>\n',
  'docs/page.html': '<p>docs page</p>\n',
  'no-index/file.txt': 'a file in a folder without an index\n',
  'evil.example/index.html': '<p>a local folder named like a host</p>\n',
  '.env': 'SECRET_TOKEN=dotfile-secret\n',
  '.git/config': '[core]\n\tgit-config-secret = true\n',
  'with space.txt': 'a name with a space\n',
  'été.txt': 'a non-ASCII name\n',
  'a..b.txt': 'two dots inside a name\n',
  '100%.txt': 'a percent sign in a name\n',
};

/** Content-Type for each fixture: text types carry their charset. */
const CONTENT_TYPES: Array<[path: string, contentType: string]> = [
  ['/index.html', 'text/html; charset=utf-8'],
  ['/style.css', 'text/css; charset=utf-8'],
  ['/app.js', 'text/javascript; charset=utf-8'],
  ['/module.mjs', 'text/javascript; charset=utf-8'],
  ['/picture.svg', 'image/svg+xml'],
  ['/module.wasm', 'application/wasm'],
  ['/picture.png', 'image/png'],
];

const hasCurl = commandExists('curl');
const hasPython = commandExists('python3');

let tree: ReturnType<typeof makeTempDir>;
let server: RunningServer;
let dotfileServer: RunningServer;
let noListingServer: RunningServer;
/** The same files without the root index.html, so the root is listed. */
let noIndexServer: RunningServer;
let noIndexTree: ReturnType<typeof makeTempDir>;

before(async () => {
  tree = makeTempDir();
  writeTree(tree.path, FILES);
  server = await startStaticServer(tree.path);
  dotfileServer = await startStaticServer(tree.path, { dotfiles: 'allow' });
  noListingServer = await startStaticServer(tree.path, { listing: false });
  noIndexTree = makeTempDir();
  writeTree(noIndexTree.path, Object.fromEntries(Object.entries(FILES).filter(([name]) => name !== 'index.html')));
  noIndexServer = await startStaticServer(noIndexTree.path);
});

after(async () => {
  await Promise.all([server?.close(), dotfileServer?.close(), noListingServer?.close(), noIndexServer?.close()]);
  tree?.remove();
  noIndexTree?.remove();
});

function mediaType(contentType: string | null | undefined): string | undefined {
  return contentType?.split(';')[0]?.trim().toLowerCase();
}

describe('files, through fetch', () => {
  for (const [path, contentType] of CONTENT_TYPES) {
    test(`GET ${path} → 200, ${contentType}`, async () => {
      const response = await fetch(server.url(path));
      const body = Buffer.from(await response.arrayBuffer());
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), contentType);
      assert.deepEqual(body, Buffer.from(FILES[path.slice(1)]!));
      assert.equal(response.headers.get('content-length'), String(body.length));
      assert.equal(response.headers.get('last-modified'), FIXTURE_MTIME_HTTP);
      assert.match(response.headers.get('date') ?? '', IMF_FIXDATE);
    });
  }

  test('GET /data.json → application/json', async () => {
    const response = await fetch(server.url('/data.json'));
    assert.equal(response.status, 200);
    assert.equal(mediaType(response.headers.get('content-type')), 'application/json');
    assert.deepEqual(await response.json(), { answer: 42 });
  });

  test('the Date field is the current time', async () => {
    const before = Date.now();
    const response = await fetch(server.url('/plain.txt'));
    await response.arrayBuffer();
    const date = Date.parse(response.headers.get('date') ?? '');
    // Whole seconds: the value is truncated, so it can be up to a second before `before`.
    assert.ok(date >= Math.floor(before / 1000) * 1000 - 1000 && date <= Date.now() + 1000, `Date ${response.headers.get('date')}`);
  });

  test('404 for a missing file: a small HTML page that echoes nothing of the request', async () => {
    const response = await fetch(server.url('/missing-<script>alert(1)</script>.html'));
    const body = await response.text();
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(response.headers.get('content-length'), String(Buffer.byteLength(body)));
    assert.match(body, /404 Not Found/);
    assert.ok(body.length < 1024, `error page is ${body.length} bytes`);
    assert.ok(!body.includes('script') && !body.includes('missing') && !body.includes(tree.path), body);
  });

  test('a folder with index.html is answered with it', async () => {
    const response = await fetch(server.url('/docs/'));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(await response.text(), FILES['docs/index.html']);
  });

  test('the root folder is answered with its index.html', async () => {
    const response = await fetch(server.url('/'));
    assert.equal(response.status, 200);
    assert.equal(await response.text(), FILES['index.html']);
  });

  test('a folder without index.html → its listing by default, 404 with listing: false', async () => {
    const listed = await fetch(server.url('/no-index/'));
    const page = await listed.text();
    assert.equal(listed.status, 200);
    assert.equal(listed.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.ok(page.includes('href="/no-index/file.txt"'), page);

    const unlisted = await fetch(noListingServer.url('/no-index/'));
    await unlisted.arrayBuffer();
    assert.equal(unlisted.status, 404);
  });

  test('the listing of the root hides dotfiles and links awkward names correctly', async () => {
    const page = await (await fetch(noIndexServer.url('/'))).text();
    for (const href of ['/with%20space.txt', '/%C3%A9t%C3%A9.txt', '/a..b.txt', '/100%25.txt', '/docs/']) {
      assert.ok(page.includes(`href="${href}"`), `no link to ${href}`);
    }
    assert.ok(!page.includes('.env') && !page.includes('.git'), 'a dotfile is listed');
  });

  test('a file named with a trailing slash → 404', async () => {
    const response = await fetch(server.url('/plain.txt/'));
    await response.arrayBuffer();
    assert.equal(response.status, 404);
  });

  test('a folder without its trailing slash → 301 to the slashed path, query kept', async () => {
    const plain = await fetch(server.url('/docs'), { redirect: 'manual' });
    await plain.arrayBuffer();
    assert.equal(plain.status, 301);
    assert.equal(plain.headers.get('location'), '/docs/');

    const withQuery = await fetch(server.url('/docs?lang=en&x=%20'), { redirect: 'manual' });
    await withQuery.arrayBuffer();
    assert.equal(withQuery.status, 301);
    assert.equal(withQuery.headers.get('location'), '/docs/?lang=en&x=%20');
  });

  test('fetch follows the folder redirect to the index page', async () => {
    const response = await fetch(server.url('/docs'));
    assert.equal(response.status, 200);
    assert.equal(response.url, server.url('/docs/'));
    assert.equal(await response.text(), FILES['docs/index.html']);
  });

  const awkwardNames: Array<[target: string, file: string]> = [
    ['/with%20space.txt', 'with space.txt'],
    ['/%C3%A9t%C3%A9.txt', 'été.txt'],
    ['/a..b.txt', 'a..b.txt'],
    ['/100%25.txt', '100%.txt'],
  ];
  for (const [target, file] of awkwardNames) {
    test(`an awkward name: ${target}`, async () => {
      const response = await fetch(server.url(target));
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.equal(await response.text(), FILES[file]);
    });
  }

  test('dotfiles → 404 by default', async () => {
    for (const target of ['/.env', '/.git/config', '/.git/', '/%2eenv', '/docs/../.env']) {
      const response = await fetch(server.url(target), { redirect: 'manual' });
      const body = await response.text();
      assert.equal(response.status, 404, target);
      assert.ok(!body.includes('secret'), `${target}: ${body}`);
    }
  });

  test("dotfiles are served with dotfiles: 'allow'", async () => {
    const env = await fetch(dotfileServer.url('/.env'));
    assert.equal(env.status, 200);
    assert.equal(await env.text(), FILES['.env']);
    const config = await fetch(dotfileServer.url('/.git/config'));
    assert.equal(config.status, 200);
    assert.equal(await config.text(), FILES['.git/config']);
  });
});

describe('curl', { skip: !hasCurl && 'curl is not installed' }, () => {
  test('GET a file: status, fields and body', async () => {
    const { exitCode, responses } = await curl([server.url('/style.css')]);
    assert.equal(exitCode, 0);
    assert.equal(responses.length, 1);
    const [response] = responses;
    assert.equal(response!.version, '1.1');
    assert.equal(response!.status, 200);
    assert.equal(response!.field('content-type'), 'text/css; charset=utf-8');
    assert.equal(response!.field('content-length'), String(Buffer.byteLength(FILES['style.css'] as string)));
    assert.equal(response!.field('last-modified'), FIXTURE_MTIME_HTTP);
    assert.match(response!.field('date') ?? '', IMF_FIXDATE);
    assert.equal(response!.body.toString(), FILES['style.css']);
  });

  test('HEAD (curl -I) has the same fields as GET and no body', async () => {
    const get = await curl([server.url('/app.js')]);
    const head = await curl(['-I', server.url('/app.js')], 'HEAD');
    assert.equal(head.exitCode, 0);
    assert.equal(head.responses.length, 1);
    assert.equal(head.responses[0]!.status, 200);
    const withoutDate = (fields: Array<[string, string]>) => fields.filter(([name]) => name.toLowerCase() !== 'date');
    assert.deepEqual(withoutDate(head.responses[0]!.fields), withoutDate(get.responses[0]!.fields));
    assert.equal(head.responses[0]!.body.length, 0);
  });

  for (const method of ['POST', 'PUT', 'DELETE']) {
    test(`${method} with a body → 405 with Allow`, async () => {
      const { exitCode, responses } = await curl(['-X', method, '--data-binary', 'name=value&other=1', server.url('/plain.txt')]);
      assert.equal(exitCode, 0);
      assert.equal(responses.length, 1);
      assert.equal(responses[0]!.status, 405);
      assert.equal(responses[0]!.field('allow'), 'GET, HEAD, OPTIONS');
      assert.match(responses[0]!.body.toString(), /405 Method Not Allowed/);
    });
  }

  test('OPTIONS on a path → Allow', async () => {
    const { exitCode, responses } = await curl(['-X', 'OPTIONS', server.url('/plain.txt')]);
    assert.equal(exitCode, 0);
    assert.equal(responses[0]!.status, 204);
    assert.equal(responses[0]!.field('allow'), 'GET, HEAD, OPTIONS');
  });

  test('OPTIONS * → Allow', async () => {
    const { exitCode, responses } = await curl(['-X', 'OPTIONS', '--request-target', '*', server.url('/')]);
    assert.equal(exitCode, 0);
    assert.equal(responses[0]!.status, 204);
    assert.equal(responses[0]!.field('allow'), 'GET, HEAD, OPTIONS');
  });

  test('GET * → 400 (asterisk-form is for OPTIONS only)', async () => {
    const { exitCode, responses } = await curl(['--request-target', '*', server.url('/')]);
    assert.equal(exitCode, 0);
    assert.equal(responses[0]!.status, 400);
  });

  test('an HTTP/1.1 request without Host → 400', async () => {
    const { exitCode, responses } = await curl(['-H', 'Host:', server.url('/plain.txt')]);
    assert.equal(exitCode, 0);
    assert.equal(responses.length, 1);
    assert.equal(responses[0]!.status, 400);
  });

  test('POST with Expect: 100-continue gets its final answer without sending the body', async () => {
    // curl waits for "100 Continue" (up to a second) before sending the body; the server answers at once.
    const { exitCode, responses } = await curl(['-d', 'name=value', '-H', 'Expect: 100-continue', server.url('/plain.txt')]);
    assert.equal(exitCode, 0);
    const final = responses.filter((response) => response.status >= 200);
    assert.equal(final.length, 1);
    assert.equal(final[0]!.status, 405);
    assert.equal(final[0]!.field('allow'), 'GET, HEAD, OPTIONS');
  });

  test('an unknown expectation → 417', async () => {
    const { exitCode, responses } = await curl(['-H', 'Expect: foo', server.url('/plain.txt')]);
    assert.equal(exitCode, 0);
    assert.equal(responses[0]!.status, 417);
  });

  test('//evil.example/ names the local folder, never another host', async () => {
    const slashed = await curl(['--path-as-is', server.url('//evil.example/')]);
    assert.equal(slashed.exitCode, 0);
    const answer = slashed.responses[0]!;
    if (answer.status === 301) assert.equal(answer.field('location'), '/evil.example/');
    else {
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), FILES['evil.example/index.html']);
    }
  });

  test('awkward names, as curl sends them', async () => {
    const { exitCode, responses } = await curl([
      server.url('/with%20space.txt'),
      server.url('/%C3%A9t%C3%A9.txt'),
      server.url('/a..b.txt'),
      server.url('/100%25.txt'),
    ]);
    assert.equal(exitCode, 0);
    assert.deepEqual(
      responses.map((response) => [response.status, response.body.toString()]),
      [
        [200, FILES['with space.txt']],
        [200, FILES['été.txt']],
        [200, FILES['a..b.txt']],
        [200, FILES['100%.txt']],
      ],
    );
  });
});

describe("Python's http.client", { skip: !hasPython && 'python3 is not installed' }, () => {
  test('GET every type on one connection', async () => {
    const answers = await pythonRequests(server.port, [
      ...CONTENT_TYPES.map(([path]) => ({ method: 'GET', path })),
      { method: 'GET', path: '/data.json' },
    ]);
    assert.equal(answers.length, CONTENT_TYPES.length + 1);
    CONTENT_TYPES.forEach(([path, contentType], index) => {
      const answer = answers[index]!;
      assert.equal(answer.status, 200, path);
      assert.equal(answer.version, 11);
      assert.equal(pythonField(answer, 'content-type'), contentType, path);
      assert.deepEqual(answer.body, Buffer.from(FILES[path.slice(1)]!), path);
      assert.equal(pythonField(answer, 'content-length'), String(answer.body.length), path);
      assert.equal(pythonField(answer, 'last-modified'), FIXTURE_MTIME_HTTP, path);
      assert.match(pythonField(answer, 'date') ?? '', IMF_FIXDATE, path);
    });
    assert.equal(mediaType(pythonField(answers.at(-1)!, 'content-type')), 'application/json');
    // Every response kept the connection: http.client never had to reconnect.
    const ports = new Set(answers.map((answer) => answer.localPort));
    assert.equal(ports.size, 1);
    assert.notEqual(answers[0]!.localPort, null);
  });

  test('HEAD has the fields of GET and no body', async () => {
    const [get, head] = await pythonRequests(server.port, [
      { method: 'GET', path: '/index.html' },
      { method: 'HEAD', path: '/index.html' },
    ]);
    assert.equal(head!.status, 200);
    assert.equal(head!.body.length, 0);
    const withoutDate = (headers: Array<[string, string]>) => headers.filter(([name]) => name.toLowerCase() !== 'date');
    assert.deepEqual(withoutDate(head!.headers), withoutDate(get!.headers));
  });

  for (const method of ['POST', 'PUT', 'DELETE']) {
    test(`${method} with a body → 405 with Allow; the body is read and discarded`, async () => {
      const [refused, next] = await pythonRequests(server.port, [
        { method, path: '/plain.txt', body: 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n' },
        { method: 'GET', path: '/plain.txt' },
      ]);
      assert.equal(refused!.status, 405);
      assert.equal(pythonField(refused!, 'allow'), 'GET, HEAD, OPTIONS');
      assert.match(refused!.body.toString(), /405 Method Not Allowed/);
      // The body (which looks like a request) was skipped, and the same connection answered next.
      assert.equal(next!.status, 200);
      assert.equal(next!.body.toString(), FILES['plain.txt']);
      assert.notEqual(refused!.localPort, null);
      assert.equal(next!.localPort, refused!.localPort);
    });
  }

  test('an unknown method (BREW) → 501', async () => {
    const [answer] = await pythonRequests(server.port, [{ method: 'BREW', path: '/coffee' }]);
    assert.equal(answer!.status, 501);
    assert.match(answer!.body.toString(), /501 Not Implemented/);
  });

  test('OPTIONS → Allow', async () => {
    const [answer] = await pythonRequests(server.port, [{ method: 'OPTIONS', path: '/' }]);
    assert.equal(answer!.status, 204);
    assert.equal(pythonField(answer!, 'allow'), 'GET, HEAD, OPTIONS');
  });

  test('OPTIONS * → Allow', async () => {
    const [answer] = await pythonRequests(server.port, [{ method: 'OPTIONS', path: '*' }]);
    assert.equal(answer!.status, 204);
    assert.equal(pythonField(answer!, 'allow'), 'GET, HEAD, OPTIONS');
  });

  test('awkward names', async () => {
    const answers = await pythonRequests(server.port, [
      { method: 'GET', path: '/with%20space.txt' },
      { method: 'GET', path: '/%C3%A9t%C3%A9.txt' },
      { method: 'GET', path: '/a..b.txt' },
      { method: 'GET', path: '/100%25.txt' },
      { method: 'GET', path: '/%E9t%E9.txt' },
    ]);
    assert.deepEqual(
      answers.map((answer) => answer.status),
      [200, 200, 200, 200, 400],
    );
    assert.equal(answers[1]!.body.toString(), FILES['été.txt']);
    assert.equal(answers[3]!.body.toString(), FILES['100%.txt']);
  });

  test('the directory redirect keeps the query', async () => {
    const [answer] = await pythonRequests(server.port, [{ method: 'GET', path: '/docs?page=2' }]);
    assert.equal(answer!.status, 301);
    assert.equal(pythonField(answer!, 'location'), '/docs/?page=2');
  });
});

describe('raw sockets, for what clients will not send', () => {
  const request = (method: string, target: string, extra = '') =>
    `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${extra}\r\n`;

  test('HEAD: the same head as GET and not one body byte after it', async () => {
    const get = parseSingleResponse(await rawExchange(server.port, request('GET', '/style.css')));
    const headBytes = await rawExchange(server.port, request('HEAD', '/style.css'));
    // The exchange ends when the server closes: everything it sent is here, and it must end with the head.
    const headEnd = headBytes.indexOf('\r\n\r\n');
    assert.ok(headEnd > 0);
    assert.equal(headBytes.length, headEnd + 4, `bytes after the head: ${JSON.stringify(headBytes.subarray(headEnd + 4).toString())}`);
    const head = parseSingleResponse(headBytes, 'HEAD');
    assert.equal(head.status, 200);
    const withoutDate = (fields: Array<[string, string]>) => fields.filter(([name]) => name.toLowerCase() !== 'date');
    assert.deepEqual(withoutDate(head.fields), withoutDate(get.fields));
    assert.equal(head.field('content-length'), String(Buffer.byteLength(FILES['style.css'] as string)));
    assert.match(head.field('date') ?? '', IMF_FIXDATE);
  });

  test('HEAD of a 404: the error head, no body', async () => {
    const bytes = await rawExchange(server.port, request('HEAD', '/missing.txt'));
    const head = parseSingleResponse(bytes, 'HEAD');
    assert.equal(head.status, 404);
    assert.ok(Number(head.field('content-length')) > 0);
    assert.equal(bytes.length, bytes.indexOf('\r\n\r\n') + 4);
  });

  test('HTTP/2.0 in the request line → 505', async () => {
    const response = parseSingleResponse(await rawExchange(server.port, 'GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n'));
    assert.equal(response.status, 505);
  });

  test('HTTP/1.1 without Host → 400', async () => {
    const response = parseSingleResponse(await rawExchange(server.port, 'GET /plain.txt HTTP/1.1\r\n\r\n'));
    assert.equal(response.status, 400);
    assert.equal(response.field('connection'), 'close');
  });

  test('HTTP/1.0 without Host is fine', async () => {
    const response = parseSingleResponse(await rawExchange(server.port, 'GET /plain.txt HTTP/1.0\r\n\r\n'));
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), FILES['plain.txt']);
  });

  test('a POST with Expect: 100-continue is answered before its body is sent', async () => {
    const connection = await RawConnection.open(server.port);
    try {
      connection.write('POST /plain.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n');
      let response = await connection.readResponse();
      if (response.status === 100) response = await connection.readResponse();
      assert.equal(response.status, 405);
      assert.equal(response.field('allow'), 'GET, HEAD, OPTIONS');
    } finally {
      connection.destroy();
    }
  });

  test('Expect: foo → 417 on a raw socket too', async () => {
    const response = parseSingleResponse(await rawExchange(server.port, request('GET', '/plain.txt', 'Expect: foo\r\n')));
    assert.equal(response.status, 417);
  });

  const redirects: Array<[target: string, location: string]> = [
    ['//evil.example', '/evil.example/'],
    ['//evil.example?next=1', '/evil.example/?next=1'],
    ['///evil.example', '/evil.example/'],
    ['/./evil.example', '/evil.example/'],
    ['http://other.example//evil.example', '/evil.example/'],
  ];
  for (const [target, location] of redirects) {
    test(`${target} → 301 to ${location}, on this host`, async () => {
      const response = parseSingleResponse(await rawExchange(server.port, request('GET', target)));
      assert.equal(response.status, 301);
      assert.equal(response.field('location'), location);
    });
  }

  test('//evil.example/ is the local folder (its index, or a redirect to a single-slash path)', async () => {
    const response = parseSingleResponse(await rawExchange(server.port, request('GET', '//evil.example/')));
    if (response.status === 301) {
      assert.equal(response.field('location'), '/evil.example/');
    } else {
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), FILES['evil.example/index.html']);
    }
  });

  test('/\\evil.example and /%2Fevil.example (a second slash in disguise) → 404, never a redirect', async () => {
    for (const target of ['/\\evil.example', '/%2Fevil.example', '/%5Cevil.example', '/%2F%2Fevil.example']) {
      const response = parseSingleResponse(await rawExchange(server.port, request('GET', target)));
      assert.equal(response.status, 404, target);
      assert.equal(response.field('location'), undefined, target);
    }
  });

  test('dotfiles through dot segments and encodings → 404', async () => {
    for (const target of ['/.env', '/%2Eenv', '/docs/../.env', '/.git/config', '/%2egit/config', '/.git%2fconfig']) {
      const response = parseSingleResponse(await rawExchange(server.port, request('GET', target)));
      assert.equal(response.status, 404, target);
      assert.ok(!response.body.toString().includes('secret'), target);
    }
  });
});
