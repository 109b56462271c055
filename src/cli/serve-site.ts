/** The site options of `sockhttp serve`: serve.json, clean URLs, auth, HTTPS, archives, --open. */
import { readFileSync } from 'node:fs';
import {
  AuthConfigError,
  BasicAuth,
  type LoadedSiteConfig,
  type ServeStaticOptions,
  SiteConfigError,
  SiteRules,
  type TraceOptions,
  loadSiteConfig,
} from '../index.js';
import { UsageError } from './options.js';

// ---- Site options (serve.json, clean URLs, auth, HTTPS, archives, QR, --open) -------------------
export const SITE_OPTIONS = {
  config: { type: 'string' },
  'no-clean-urls': { type: 'boolean' },
  'spa-file': { type: 'string' },
  auth: { type: 'string', multiple: true },
  'auth-file': { type: 'string' },
  isolation: { type: 'boolean' },
  https: { type: 'boolean' },
  archives: { type: 'boolean' },
  open: { type: 'boolean' },
} as const;

/** `--spa FILE` (FILE ending in .html or .htm) and `--spa=FILE` become `--spa-file FILE`: parseArgs has no optional values. */
export function withSpaFile(args: string[]): string[] {
  const out: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    const next = args[index + 1];
    if (arg.startsWith('--spa=')) out.push('--spa-file', arg.slice('--spa='.length));
    else if (arg === '--spa' && next !== undefined && !next.startsWith('-') && /\.html?$/i.test(next)) {
      out.push('--spa-file', next);
      index++;
    } else out.push(arg);
  }
  return out;
}

/** A serve.json or --auth-file that cannot be used: one line, exit code 1. */
export class SiteFileError extends Error {}

export interface SiteSettings {
  /** The folder to serve after serve.json's `public`. */
  root: string;
  https: boolean;
  open: boolean;
  options: Pick<
    ServeStaticOptions,
    'site' | 'cleanUrls' | 'etag' | 'auth' | 'isolation' | 'archives' | 'hiddenFiles' | 'spa' | 'listing' | 'symlinks'
  >;
}

/** The parsed flags parseSiteArgs reads. */
export interface SiteValues {
  config?: string | undefined;
  'auth-file'?: string | undefined;
  auth?: string[] | undefined;
  'spa-file'?: string | undefined;
  spa?: boolean | undefined;
  'no-clean-urls'?: boolean | undefined;
  https?: boolean | undefined;
  open?: boolean | undefined;
  isolation?: boolean | undefined;
  archives?: boolean | undefined;
  symlinks?: string | undefined;
}

/** serve.json first, then the flags over it. */
export function parseSiteArgs(values: SiteValues, folder: string): SiteSettings {
  let loaded: LoadedSiteConfig | null;
  try {
    loaded = loadSiteConfig(folder, values.config);
  } catch (error) {
    if (error instanceof SiteConfigError) throw new SiteFileError(error.message);
    throw error;
  }
  const config = loaded?.config ?? {};
  let authFile: string | undefined;
  if (values['auth-file'] !== undefined) {
    try {
      authFile = readFileSync(values['auth-file'], 'utf8');
    } catch (error) {
      throw new SiteFileError(`${values['auth-file']}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  let auth: BasicAuth | undefined;
  if (values.auth !== undefined || authFile !== undefined) {
    try {
      auth = new BasicAuth({ credentials: values.auth ?? [], htpasswd: authFile ?? '' });
    } catch (error) {
      if (!(error instanceof AuthConfigError)) throw error;
      if (values.auth?.some((pair) => pair.indexOf(':') <= 0)) throw new UsageError('--auth must look like USER:PASSWORD');
      throw new SiteFileError(`${values['auth-file'] ?? '--auth'}: ${error.message}`);
    }
  }
  const spa = values['spa-file'] ?? (values.spa === true ? true : undefined);
  return {
    root: loaded?.root ?? folder,
    https: values.https === true,
    open: values.open === true,
    options: {
      // --no-clean-urls also turns off serve.json's clean-URL redirects
      ...(loaded && {
        site: values['no-clean-urls'] ? new SiteRules({ ...config, cleanUrls: false }) : loaded.rules,
        hiddenFiles: [loaded.file],
      }),
      cleanUrls: values['no-clean-urls'] ? false : config.cleanUrls !== false,
      ...(config.etag === false && { etag: false }),
      ...(auth && { auth }),
      ...(values.isolation && { isolation: true }),
      ...(values.archives && { archives: true }),
      ...(spa !== undefined && { spa }),
      ...(config.directoryListing === false && { listing: false }),
      ...(config.symlinks !== undefined && values.symlinks === undefined && { symlinks: config.symlinks ? 'follow-inside' : 'deny' }),
    },
  };
}

export const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');

/** The start-up warning when Basic credentials would cross a network in clear text, else null. */
export function plainHttpAuthWarning(host: string, hasTls: boolean, hasAuth: boolean): string | null {
  if (!hasAuth || hasTls || isLoopback(host)) return null;
  return `--auth over plain HTTP on ${host}: passwords cross the network readable by anyone on it; add --https`;
}

/** Under --trace with --auth, credentials never reach the trace: the Authorization value is masked. */
export function redactCredentials(trace: TraceOptions): TraceOptions {
  return {
    ...trace,
    write: (text) => trace.write(text.replace(/((?:proxy-)?authorization:\s*)[^\r\n]*?(?=\\r\\n|\r?\n|$)/gi, '$1[redacted]')),
  };
}
