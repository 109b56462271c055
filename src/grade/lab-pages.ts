/**
 * What the recording server answers the client labs with. The pages are the grader's own (the
 * package ships no test fixtures): the small lab file as gaia.cs.umass.edu serves it, a large page
 * of plain ASCII lines, and a HelloWorld.html. Each answer is a list of pieces, written with a
 * pause between them, then the connection is closed.
 */

/** The small Wireshark lab file, byte for byte (81 bytes). */
export const SMALL_FILE = Buffer.from("<html>\nCongratulations!  You've downloaded the first Wireshark lab file!\n</html>\n", 'latin1');

/** How many pieces the large file is sent in, and the pause between them. */
export const LARGE_FILE_PIECES = 5;
export const LARGE_FILE_PAUSE_MS = 400;

/**
 * The large page, in LARGE_FILE_PIECES pieces of about 900 bytes. Each piece's lines say which piece
 * they belong to, so a report can tell how much of the file a client printed. ASCII only: a client
 * that decodes each read on its own never splits a character.
 */
function largeFilePieces(): Buffer[] {
  const pieces: string[] = [];
  for (let piece = 1; piece <= LARGE_FILE_PIECES; piece++) {
    let text = piece === 1 ? '<!DOCTYPE html>\n<html><head><title>A large lab file</title></head><body>\n' : '';
    for (let line = 1; text.length < 860; line++) {
      text += `<p>Piece ${piece} of ${LARGE_FILE_PIECES}, line ${String(line).padStart(2, '0')}: a response of several kilobytes comes in many reads.</p>\n`;
    }
    if (piece === LARGE_FILE_PIECES) text += '</body></html>\n';
    pieces.push(text);
  }
  return pieces.map((text) => Buffer.from(text, 'latin1'));
}

export const LARGE_FILE_BODY_PIECES = largeFilePieces();
export const LARGE_FILE = Buffer.concat(LARGE_FILE_BODY_PIECES);

/** The page the lab client is served when the course gives none (--file). */
export const DEFAULT_HELLO_WORLD = Buffer.from(
  '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Hello World</title></head>\n<body><h1>Hello World</h1><p>Served by sockhttp grade.</p></body>\n</html>\n',
  'latin1',
);

export function responseHead(body: Buffer, contentType = 'text/html; charset=utf-8'): Buffer {
  return Buffer.from(
    `HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    'latin1',
  );
}

/** An answer sent whole, in one write. */
export const wholeAnswer = (body: Buffer): Buffer[] => [Buffer.concat([responseHead(body), body])];

/** The large file's answer: the head with the first piece, then each other piece after a pause. */
export const piecewiseAnswer = (): Buffer[] => [
  Buffer.concat([responseHead(LARGE_FILE), LARGE_FILE_BODY_PIECES[0]!]),
  ...LARGE_FILE_BODY_PIECES.slice(1),
];
