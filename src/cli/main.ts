/** `sockhttp serve | get | check | grade`: the command-line front of the library. */
import { VERSION } from '../version.js';

const USAGE = `sockhttp ${VERSION} — an HTTP/1.1 server and client written on TCP sockets

Usage:
  sockhttp serve [DIR] [options]       serve the files of DIR (default: the current folder)
  sockhttp get URL [options]           fetch a URL; the body goes to stdout
  sockhttp get HOST PORT FILENAME      the lab client form: GET /FILENAME from HOST:PORT
  sockhttp check URL [options]         probe any HTTP/1.x server and print a report card
  sockhttp grade LAB -- COMMAND…       run a student's lab program and grade it (for teachers)

  sockhttp serve --help, get --help, check --help, grade --help   for the options of each
  sockhttp --version (-v)

'sockhttp' alone prints this and exits 2: it is a client as much as a server, so it never starts
listening on a port unless told to ('sockhttp serve' serves the current folder).`;

interface Commands {
  serve: typeof import('./serve.js');
  get: typeof import('./get.js');
  check: typeof import('./check.js');
  grade: typeof import('./grade.js');
}

/**
 * Gives a command's module. bin/sockhttp.js passes its own, which runs the command's bundle
 * (dist/cli/, see scripts/build.mjs) with a V8 code cache; without bundles, the compiled modules.
 */
export type LoadCommand = <Name extends keyof Commands>(name: Name) => Promise<Commands[Name]>;

const importCommand = ((name: keyof Commands) => {
  switch (name) {
    case 'serve':
      return import('./serve.js');
    case 'get':
      return import('./get.js');
    case 'check':
      return import('./check.js');
    case 'grade':
      return import('./grade.js');
  }
}) as LoadCommand;

/** Each command's module is loaded only when it runs: a quick `get` does not pay for loading `serve`. */
export async function main(args: string[], load: LoadCommand = importCommand): Promise<number> {
  const [command, ...rest] = args;
  // `sockhttp get --version` and the like: the version, whatever the command.
  if (rest.length === 1 && (rest[0] === '--version' || rest[0] === '-V')) return main(['--version']);
  switch (command) {
    case 'serve':
      return (await load('serve')).runServe(rest);
    case 'get':
      return (await load('get')).runGet(rest);
    case 'check':
      return (await load('check')).runCheck(rest);
    case 'grade':
      return (await load('grade')).runGrade(rest);
    case '--version':
    case '-V':
    case '-v':
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
