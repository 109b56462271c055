/**
 * Where the server spends its time under load: runs `sockhttp serve` with `node --cpu-prof`, drives
 * it with wrk, and prints the functions with the most self time from the V8 profile.
 *
 *   npm run bench:profile                      (the 100 B file, 50 keep-alive connections, 5 s)
 *   npm run bench:profile -- /page.html 10     (another path, another duration)
 *   npm run bench:profile -- --close           (a new connection per request)
 *
 * The .cpuprofile file is kept and its path printed: open it in Chrome DevTools for a flame graph.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const closeEach = args.includes('--close');
const [path = '/small.html', seconds = '5'] = args.filter((arg) => arg !== '--close');

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const PIN = spawnSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' }).status === 0 && availableParallelism() >= 2;

/** The server on CPU 0 and wrk on CPU 1 where taskset exists, as in the load benchmark. */
function pinned(cpu: string, command: string, commandArgs: string[]): [string, string[]] {
  return PIN ? ['taskset', ['-c', cpu, command, ...commandArgs]] : [command, commandArgs];
}

function selfTimes(profile: Profile): Map<string, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const times = new Map<string, number>();
  profile.samples.forEach((id, index) => {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const file = url.replace(/^.*\/(dist|node:internal|node_modules)\//, '$1/');
    const key = `${functionName || '(anonymous)'}  ${file}:${lineNumber + 1}`;
    times.set(key, (times.get(key) ?? 0) + (profile.timeDeltas[index] ?? 0));
  });
  return times;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'sockhttp-profile-'));
  writeFileSync(
    join(root, 'small.html'),
    '<!doctype html><title>small</title><p>A small page of about one hundred bytes.</p>\n'.padEnd(100, ' '),
  );
  writeFileSync(join(root, 'page.html'), '<p>HTTP/1.1 moves representations of resources.</p>\n'.repeat(90).slice(0, 4500));
  const profileDir = mkdtempSync(join(tmpdir(), 'sockhttp-cpuprofile-'));
  const port = freePort();
  const serverArgs = [
    '--cpu-prof',
    '--cpu-prof-dir',
    profileDir,
    join(REPO, 'bin/sockhttp.js'),
    'serve',
    root,
    '--port',
    String(port),
    '--quiet',
  ];
  const server = spawn(...pinned('0', process.execPath, serverArgs), { stdio: 'inherit' });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const wrk = spawnSync(
    ...pinned('1', 'wrk', [
      '-t1',
      '-c50',
      `-d${seconds}s`,
      ...(closeEach ? ['-H', 'Connection: close'] : []),
      `http://127.0.0.1:${port}${path}`,
    ]),
    { encoding: 'utf8' },
  );
  if (wrk.error) throw new Error('wrk is needed (apt-get install wrk)');
  console.log(
    wrk.stdout
      .split('\n')
      .filter((line) => /Requests\/sec|Non-2xx|errors/.test(line))
      .join('\n'),
  );
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  await exited;
  const file = join(profileDir, readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'))!);
  const times = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const total = [...times.values()].reduce((sum, time) => sum + time, 0);
  console.log(`\nself time, top 30 of ${(total / 1e6).toFixed(1)} s sampled:`);
  for (const [key, time] of [...times].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`${((100 * time) / total).toFixed(1).padStart(5)}%  ${key}`);
  }
  const byPlace = new Map<string, number>();
  for (const [key, time] of times) {
    const place = key.includes('dist/src/')
      ? `sockhttp ${key.split('dist/src/')[1]!.split('/')[0]}`
      : key.includes('node:')
        ? 'node internals'
        : key.split('  ')[0]!;
    byPlace.set(place, (byPlace.get(place) ?? 0) + time);
  }
  console.log('\nself time by place:');
  for (const [place, time] of [...byPlace].sort((a, b) => b[1] - a[1]).slice(0, 12))
    console.log(`${((100 * time) / total).toFixed(1).padStart(5)}%  ${place}`);
  console.log(`\nprofile: ${file}`);
}

await main();
