/**
 * Folder archives for `serve --archives`: a listed folder offered as a streamed `.tar.gz` (tar-stream
 * and node:zlib) or `.zip` (yazl).
 *
 * Nothing is held in memory but one file's chunk in flight: the archive is written as the client
 * reads it (backpressure all the way from the socket to the file read), and each file is opened only
 * when its turn comes. Every folder and file goes through FileAccess exactly like a request for it
 * would: the folder's names are read through its verified descriptor, each entry is opened and judged
 * on its real path (inside the root, no dotfile, no symlink under --symlinks deny, regular files and
 * folders only), and its bytes are read through that descriptor. Dotfiles are never included, even
 * under --dotfiles allow. A folder reached twice (a symlink to an ancestor) is included once.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import { PassThrough, type Readable, pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';
import { create as contentDisposition } from 'content-disposition';
import tar from 'tar-stream';
import yazl from 'yazl';
import type { FieldLine } from '../core/fields.js';
import { type FileAccess, type FileIdentity, identityKey } from './file-access.js';

export type ArchiveFormat = 'tar.gz' | 'zip';
export const ARCHIVE_FORMATS: readonly ArchiveFormat[] = ['tar.gz', 'zip'];

/** The fields of an archive of the folder `folderName` (Content-Disposition with RFC 6266/8187 encoding). */
export function archiveFields(folderName: string, format: ArchiveFormat): FieldLine[] {
  return [
    ['Content-Type', format === 'zip' ? 'application/zip' : 'application/gzip'],
    ['Content-Disposition', contentDisposition(`${folderName}.${format}`)],
    ['Cache-Control', 'no-store'],
    ['X-Content-Type-Options', 'nosniff'],
  ];
}

/** Folders deeper than this are left out: a guard against pathological trees, not a real limit. */
const MAX_DEPTH = 32;
/** Entries in one archive; past this the archive ends (and is marked incomplete by an error). */
const MAX_ENTRIES = 100_000;

interface ArchiveEntry {
  /** The path inside the archive, "/"-separated, relative to the archived folder. */
  name: string;
  realPath: string;
  identity: FileIdentity;
  isDirectory: boolean;
}

/** A folder's place on disk (device and inode), whatever its times: the same folder reached twice has one key. */
function folderKey(identity: FileIdentity): string {
  return identityKey({ ...identity, size: 0, mtimeMs: 0, ctimeMs: 0 });
}

/** The walk of the archived folder, which counts as seen from the start (a symlink back to it is left out). */
function walkFolder(access: FileAccess, realPath: string): AsyncGenerator<ArchiveEntry> {
  const seen = new Set<string>();
  const folder = access.open(realPath, false);
  if (folder.kind === 'directory') seen.add(folderKey(folder.identity));
  return walk(access, realPath, '', seen, 0);
}

/** Every entry under the verified folder `realPath`, depth first, names sorted, each verified before it is yielded. */
async function* walk(access: FileAccess, realPath: string, prefix: string, seen: Set<string>, depth: number): AsyncGenerator<ArchiveEntry> {
  const directory = await access.readDirectory(realPath);
  if (directory === null || depth > MAX_DEPTH) return;
  for (const name of [...directory.names].sort()) {
    if (name.startsWith('.')) continue;
    const opened = access.open(join(directory.realPath, name), false);
    if (opened.kind === 'file') {
      yield { name: prefix + name, realPath: opened.realPath, identity: opened.identity, isDirectory: false };
    } else if (opened.kind === 'directory') {
      const key = folderKey(opened.identity);
      if (seen.has(key)) continue;
      seen.add(key);
      yield { name: `${prefix}${name}/`, realPath: opened.realPath, identity: opened.identity, isDirectory: true };
      yield* walk(access, opened.realPath, `${prefix}${name}/`, seen, depth + 1);
    }
  }
}

/** The entry's bytes, through a descriptor opened and verified now, and still the version that was walked. */
function openEntry(access: FileAccess, entry: ArchiveEntry): Readable {
  // Throws if it is gone, now refused, or no longer the version walked (its size went into the header).
  return access.streamSource(entry);
}

/**
 * The archive of the verified folder at `realPath`, as a stream that produces it while it is read.
 * `done` is called once when the stream ends, fails or is destroyed (it frees the concurrency slot).
 */
export function archiveStream(access: FileAccess, realPath: string, format: ArchiveFormat, done: () => void): Readable {
  const output = format === 'zip' ? zipArchive(access, realPath) : tarGzArchive(access, realPath);
  let finished = false;
  const finish = () => {
    if (!finished) {
      finished = true;
      done();
    }
  };
  output.once('close', finish);
  output.once('end', finish);
  output.once('error', finish);
  return output;
}

function tarGzArchive(access: FileAccess, realPath: string): Readable {
  const pack = tar.pack();
  const gzip = createGzip({ level: 6 });
  pipeline(pack, gzip, () => {});
  const fill = async () => {
    let count = 0;
    for await (const entry of walkFolder(access, realPath)) {
      if (gzip.destroyed) return;
      if (++count > MAX_ENTRIES) throw new Error('too many entries');
      const mtime = new Date(entry.identity.mtimeMs);
      if (entry.isDirectory) {
        pack.entry({ name: entry.name, type: 'directory', mode: 0o755, mtime });
        continue;
      }
      const source = openEntry(access, entry);
      const sink = pack.entry({ name: entry.name, type: 'file', mode: 0o644, size: entry.identity.size, mtime });
      const written = new Promise<void>((resolve, reject) => {
        sink.once('finish', resolve);
        sink.once('error', reject);
        sink.once('close', resolve);
      });
      try {
        for await (const chunk of source) {
          if (!sink.write(chunk)) await Promise.race([once(sink, 'drain'), written]);
          if (gzip.destroyed) return;
        }
      } finally {
        source.destroy();
      }
      sink.end(undefined);
      await written;
    }
    pack.finalize();
  };
  fill().catch((error: Error) => gzip.destroy(error));
  return gzip;
}

function zipArchive(access: FileAccess, realPath: string): Readable {
  const zip = new yazl.ZipFile();
  const output = new PassThrough();
  pipeline(zip.outputStream, output, () => {});
  const fill = async () => {
    let count = 0;
    // yazl takes the list of entries first and opens each stream only when it writes that entry, in order.
    for await (const entry of walkFolder(access, realPath)) {
      if (output.destroyed) return;
      if (++count > MAX_ENTRIES) throw new Error('too many entries');
      const mtime = new Date(entry.identity.mtimeMs);
      if (entry.isDirectory) {
        zip.addEmptyDirectory(entry.name, { mtime });
        continue;
      }
      zip.addReadStreamLazy(entry.name, { mtime, mode: 0o100644, size: entry.identity.size }, (callback) => {
        try {
          callback(null, openEntry(access, entry));
        } catch (error) {
          callback(error as Error, undefined as unknown as Readable);
        }
      });
    }
    zip.end();
  };
  fill().catch((error: Error) => output.destroy(error));
  return output;
}
