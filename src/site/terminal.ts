/**
 * What `serve` does for the person at the terminal: a QR code of the network URL for a phone on the
 * same network (the qrcode library, drawn with Unicode half blocks), and opening the browser (the
 * open library: xdg-open, open, start, or WSL's bridge).
 */

/** The QR code of `text` as lines of Unicode half blocks, for a terminal. */
export async function renderQrCode(text: string): Promise<string> {
  const { default: QRCode } = await import('qrcode');
  return QRCode.toString(text, { type: 'terminal', small: true, errorCorrectionLevel: 'L' });
}

/**
 * Opens `url` in the default browser. `opener` (or $SOCKHTTP_OPENER, for tests and unusual desktops)
 * names a program to run with the URL instead of the system's default.
 */
export async function openBrowser(url: string, opener = process.env['SOCKHTTP_OPENER']): Promise<void> {
  const { default: open } = await import('open');
  const child = await open(url, opener ? { app: { name: opener } } : {});
  child.on('error', () => {}); // no browser: the URL is printed anyway
  child.unref();
}
