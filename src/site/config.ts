/**
 * Reading `serve.json`: the served folder's own, or the file named by --config. It is validated with
 * the very schema `serve` validates it with (@zeit/schemas deployment/config-static, through Ajv), so
 * a file `serve` accepts is accepted here, extended with the items of `rewrites` and `redirects` (which
 * that schema leaves open) and `etag`. Every problem is one line naming the key.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { Ajv as AjvClass } from 'ajv';
import { FRAMING_FIELDS, type ServeJson, SiteRules } from './rules.js';

// Ajv and the schema are loaded when a serve.json is read, not by every server.
const require = createRequire(import.meta.url);

const targetItems = (extra: Record<string, unknown> = {}) => ({
  type: 'object',
  required: ['source', 'destination'],
  properties: { source: { type: 'string', minLength: 1 }, destination: { type: 'string', minLength: 1 }, ...extra },
  additionalProperties: false,
});

/** serve's schema, with the items of `rewrites` and `redirects` checked and `etag` added. */
function schema(): Record<string, unknown> {
  const serveSchema = require('@zeit/schemas/deployment/config-static.js') as { properties: Record<string, unknown> };
  return {
    ...serveSchema,
    properties: {
      ...serveSchema.properties,
      cleanUrls: { type: ['boolean', 'array'], items: { type: 'string' } },
      directoryListing: { type: ['boolean', 'array'], items: { type: 'string' } },
      unlisted: { type: 'array', items: { type: 'string' } },
      rewrites: { type: 'array', items: targetItems() },
      redirects: { type: 'array', items: targetItems({ type: { enum: [301, 302, 303, 307, 308] } }) },
      etag: { type: 'boolean' },
    },
  };
}

/** A serve.json that cannot be used: `message` is one line, naming the file and the key. */
export class SiteConfigError extends Error {}

export interface LoadedSiteConfig {
  /** The file that was read (absolute), so that it is never served. */
  file: string;
  config: ServeJson;
  /** The folder to serve when the file names one (`public`, relative to the served folder, as in serve). */
  root: string | undefined;
  rules: SiteRules;
}

let validate: ReturnType<AjvClass['compile']> | undefined;

/**
 * Reads `configFile` (must exist), or `serve.json` in `folder` if there is one; null when there is
 * none. Throws SiteConfigError for a file that cannot be read, parsed or used.
 */
export function loadSiteConfig(folder: string, configFile?: string): LoadedSiteConfig | null {
  const file = resolve(configFile ?? resolve(folder, 'serve.json'));
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (configFile === undefined && (code === 'ENOENT' || code === 'ENOTDIR')) return null;
    throw new SiteConfigError(`${file}: cannot read it (${code ?? 'error'})`);
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    throw new SiteConfigError(`${file}: not valid JSON (${(error as Error).message.split('\n')[0]})`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new SiteConfigError(`${file}: must be a JSON object`);
  const { Ajv } = require('ajv') as { Ajv: typeof AjvClass };
  validate ??= new Ajv({ allowUnionTypes: true, allErrors: false }).compile(schema());
  if (!validate(config)) {
    const [problem] = validate.errors ?? [];
    const where = problem?.instancePath ? problem.instancePath.slice(1).replace(/\//g, '.') : 'the top level';
    const extra = problem?.keyword === 'additionalProperties' ? ` ('${String(problem.params['additionalProperty'])}')` : '';
    throw new SiteConfigError(`${file}: ${where} ${problem?.message ?? 'is invalid'}${extra}`);
  }
  const site = config as ServeJson;
  for (const [index, rule] of (site.headers ?? []).entries()) {
    for (const { key } of rule.headers) {
      if (FRAMING_FIELDS.has(key.toLowerCase())) {
        throw new SiteConfigError(`${file}: headers.${index}.headers key '${key}' is set by the server itself`);
      }
    }
  }
  let rules: SiteRules;
  try {
    rules = new SiteRules(site);
  } catch (error) {
    throw new SiteConfigError(`${file}: a source or destination cannot be compiled (${(error as Error).message.split('\n')[0]})`);
  }
  return { file, config: site, root: site.public === undefined ? undefined : resolve(folder, site.public), rules };
}
