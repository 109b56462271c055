/**
 * Entity-tags made from a file's bytes (--etag content), so that replicas serving copies of the same
 * folder give the same validator whatever the files' modification times: a cache revalidating
 * against another replica behind a load balancer still gets 304 (RFC 9110 §8.8.3: a strong
 * validator changes whenever the representation data does, and here changes only then).
 *
 * The hash is taken once per version of a file (its real path and identity from a verified
 * descriptor) and kept in a bounded map. What is hashed is what was opened: the bytes are read
 * through a descriptor verified to be that very version (FileAccess.openSource), and the tag is kept
 * only if the descriptor's identity is unchanged after the read, so a file written during the read
 * never leaves a tag for bytes nobody will serve. Concurrent requests for a new version share one read.
 */
import { BoundedMap } from '../core/bounded-map.js';
import { cryptoModule } from '../site/crypto.js';
import type { FileAccess, Source } from './file-access.js';
import { contentKeyOf } from './representations.js';

/** Bytes read per call while hashing: large files are hashed in pieces, never held whole. */
const READ_BYTES = 256 * 1024;

/** Versions remembered; each entry is a key of about a hundred bytes and a 27-character tag. */
const REMEMBERED_TAGS = 50_000;

export class ContentTags {
  readonly #access: FileAccess;
  readonly #tags = new BoundedMap<string, string>(REMEMBERED_TAGS);
  readonly #pending = new Map<string, Promise<string>>();
  /** By source object: a hot request asks about the same description's source each time, and builds no key. */
  readonly #bySource = new WeakMap<Source, string>();

  constructor(access: FileAccess) {
    cryptoModule(); // now, as the server is set up: never while a request is served (see site/crypto.ts)
    this.#access = access;
  }

  /** The tag of this version if it is known: the hot path takes no promise. */
  peek(source: Source): string | undefined {
    const known = this.#bySource.get(source);
    if (known !== undefined) return known;
    const tag = this.#tags.get(contentKeyOf(source));
    if (tag !== undefined) this.#bySource.set(source, tag);
    return tag;
  }

  /** The tag of this version, hashing its bytes the first time. Rejects as FileAccess.openSource does (ENOENT, ESTALE). */
  compute(source: Source): Promise<string> {
    const key = contentKeyOf(source);
    const known = this.#tags.get(key);
    if (known !== undefined) return Promise.resolve(known);
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = this.#hash(source).then(
        ({ tag, unchanged }) => {
          this.#pending.delete(key);
          if (unchanged) this.#tags.set(key, tag);
          return tag;
        },
        (error: unknown) => {
          this.#pending.delete(key);
          throw error;
        },
      );
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #hash(source: Source): Promise<{ tag: string; unchanged: boolean }> {
    const hash = cryptoModule().createHash('sha256');
    const unchanged = await this.#access.readPieces(source, READ_BYTES, (piece) => hash.update(piece));
    // 162 bits of SHA-256 in base64url: collisions are out of reach, and the field stays short.
    return { tag: hash.digest('base64url').slice(0, 27), unchanged };
  }
}
