/** `sockhttp serve [DIR]`: the static file server. */
import { stat } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { type HttpServer, type LogFormat, formatAccessLog, serveStatic } from '../index.js';
import { parseArgs } from 'node:util';
import { UsageError, parseNumber, withUsageErrors } from './options.js';

export const SERVE_HELP = `Usage: sockhttp serve [DIR] [options]

Serves the files of DIR (default: the current folder) over HTTP/1.1.

Options:
  -p, --port PORT          port to listen on (default: $PORT, else 13331; 0 takes a free port)
      --host HOST          address to listen on (default: 127.0.0.1; 0.0.0.0 for every network)
      --dotfiles MODE      allow | deny: may names starting with "." be served (default: deny)
      --log-format FORMAT  common | combined | json access log on stdout (default: common)
  -q, --quiet              no access log
  -h, --help               this help

Stop it with Ctrl-C (SIGINT) or SIGTERM: in-flight responses finish first.`;

const OPTIONS = {
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  dotfiles: { type: 'string' },
  'log-format': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], name: string, fallback: T): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${name} must be one of ${allowed.join(', ')}, not '${value}'`);
}

/** The URLs people can open: the loopback one, plus every network address when listening on all of them. */
function urlsFor(host: string, port: number): string[] {
  const format = (address: string) => `http://${address.includes(':') ? `[${address}]` : address}:${port}/`;
  if (host !== '0.0.0.0' && host !== '::') return [format(host)];
  const addresses = Object.values(networkInterfaces())
    .flat()
    .filter((entry) => entry !== undefined && (host === '::' || entry.family === 'IPv4'))
    .map((entry) => entry!.address);
  return addresses.map(format);
}

function startupError(error: NodeJS.ErrnoException, root: string, host: string, port: number): string {
  switch (error.code) {
    case 'EADDRINUSE':
      return `port ${port} on ${host} is already in use (EADDRINUSE); choose another with --port`;
    case 'EACCES':
    case 'EPERM':
      return `no permission to listen on ${host}:${port} (${error.code}); ports below 1024 need privileges`;
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this computer (EADDRNOTAVAIL)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve host ${host}`;
    case 'ENOENT':
      return `${root}: no such folder`;
    case 'ENOTDIR':
      return `${root}: not a folder`;
    default:
      return `cannot start: ${error.message}`;
  }
}

export async function runServe(args: string[]): Promise<number> {
  let root: string;
  let host: string;
  let port: number;
  let server: HttpServer;
  try {
    const { values, positionals } = withUsageErrors(() => parseArgs({ args, options: OPTIONS, allowPositionals: true }));
    if (values.help) {
      process.stdout.write(`${SERVE_HELP}\n`);
      return 0;
    }
    if (positionals.length > 1) throw new UsageError('serve takes one folder');
    root = positionals[0] ?? '.';
    host = values.host ?? '127.0.0.1';
    port = parseNumber(values.port ?? process.env['PORT'], 'port', { max: 65535 }) ?? 13331;
    const dotfiles = oneOf(values.dotfiles, ['allow', 'deny'], '--dotfiles', 'deny');
    const logFormat = oneOf<LogFormat>(values['log-format'], ['common', 'combined', 'json'], '--log-format', 'common');
    const onAccess = values.quiet ? undefined : (entry: Parameters<typeof formatAccessLog>[0]) => process.stdout.write(`${formatAccessLog(entry, logFormat)}\n`);
    try {
      if (!(await stat(root)).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
      server = await serveStatic({ root, host, port, dotfiles, ...(onAccess && { onAccess }) });
    } catch (error) {
      process.stderr.write(`sockhttp: ${startupError(error as NodeJS.ErrnoException, root, host, port)}\n`);
      return 1;
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`sockhttp serve: ${error.message} (try 'sockhttp serve --help')\n`);
    return 2;
  }

  const boundPort = server.address!.port;
  process.stdout.write(`Serving ${root} at ${urlsFor(host, boundPort).join(' , ')}\n`);
  return new Promise<number>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(5_000).then(() => resolve(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
