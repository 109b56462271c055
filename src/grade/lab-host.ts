/**
 * For GET-lab programs that hard-code the lab's host name (`connect(("gaia.cs.umass.edu", port))`):
 * run them where that name resolves to 127.0.0.1, without root and without touching /etc/hosts.
 *
 * The program starts inside a new user and mount namespace (`unshare --user --map-root-user
 * --mount`), where a copy of /etc/hosts with one more line is bind-mounted over /etc/hosts. Only
 * that program sees the change, and it disappears with it. This needs util-linux's `unshare` and a
 * kernel that allows unprivileged user namespaces (most Linux distributions and Docker with its
 * default seccomp profile do not allow it inside containers: then the program must take the host
 * from its arguments or SOCKHTTP_GRADE_HOST; docs/teachers.md).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GradeSetupError } from './grading.js';
import { LAB_HOST_NAME } from './rubrics.js';

/** The shell line run inside the namespaces: mount the hosts file, then become the program. */
const MOUNT_AND_EXEC = 'mount --bind "$1" /etc/hosts && shift && exec "$@"';

export interface LabHostMapping {
  /** The command wrapped so that it runs with the lab host mapped. */
  wrap(command: string[]): string[];
  remove(): void;
}

/** Prepares the hosts file and checks that namespaces work here; a GradeSetupError says why not. */
export function mapLabHost(): LabHostMapping {
  const folder = mkdtempSync(join(tmpdir(), 'sockhttp-grade-hosts-'));
  const hostsFile = join(folder, 'hosts');
  let original = '';
  try {
    original = readFileSync('/etc/hosts', 'utf8');
  } catch {
    // No /etc/hosts: ours is the whole file.
  }
  writeFileSync(hostsFile, `${original.trimEnd()}\n127.0.0.1 ${LAB_HOST_NAME}\n`);
  const wrap = (command: string[]) => [
    'unshare',
    '--user',
    '--map-root-user',
    '--mount',
    '--',
    'sh',
    '-c',
    MOUNT_AND_EXEC,
    'sh',
    hostsFile,
    ...command,
  ];
  const trial = spawnSync(wrap(['true'])[0]!, wrap(['true']).slice(1), { stdio: 'ignore', timeout: 5_000 });
  if (trial.status !== 0) {
    rmSync(folder, { recursive: true, force: true });
    throw new GradeSetupError(
      `--map-lab-host needs unshare and unprivileged user namespaces, which this machine does not allow; give the program the host as an argument or through SOCKHTTP_GRADE_HOST instead`,
    );
  }
  return { wrap, remove: () => rmSync(folder, { recursive: true, force: true }) };
}
