/** The package version, as sent in User-Agent and printed by --version. Keep in step with package.json (a test checks). */
export const VERSION = '0.1.0';
