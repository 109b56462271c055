/** `sockhttp serve | get`: the command-line front of the library. */
import { runCheck } from './check.js';
import { runGet } from './get.js';
import { runServe } from './serve.js';
import { VERSION } from '../version.js';

const USAGE = `sockhttp ${VERSION} — an HTTP/1.1 server and client written on TCP sockets

Usage:
  sockhttp serve [DIR] [options]       serve the files of DIR (default: the current folder)
  sockhttp get URL [options]           fetch a URL; the body goes to stdout
  sockhttp get HOST PORT FILENAME      the lab client form: GET /FILENAME from HOST:PORT
  sockhttp check URL [options]         probe any HTTP/1.x server and print a report card

  sockhttp serve --help, sockhttp get --help, sockhttp check --help   for the options of each
  sockhttp --version`;

export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case 'serve':
      return runServe(rest);
    case 'get':
      return runGet(rest);
    case 'check':
      return runCheck(rest);
    case '--version':
    case '-V':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`sockhttp: unknown command '${command}' (try 'sockhttp --help')\n`);
      return 2;
  }
}
