/**
 * The one place where filesystem errors become statuses. The error's text, which names paths on the
 * server, never reaches the response.
 */
export function statusForFsError(error: unknown): number {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'EISDIR':
    case 'ELOOP':
    case 'ENAMETOOLONG':
      return 404;
    case 'EACCES':
    case 'EPERM':
      return 403;
    case 'EMFILE':
    case 'ENFILE':
    case 'ESTALE': // the file changed between its check and its read: asking again will work
      return 503;
    default:
      return 500;
  }
}
