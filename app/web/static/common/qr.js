// Draws a code as a QR on a canvas (alphanumeric mode: the codes are upper-case base32).
import qrcode from '/static/vendor/qrcode-generator/qrcode.mjs';

export function qrCanvas(text, pixels = 264) {
  const alnum = /^[0-9A-Z $%*+\-./:]*$/.test(text);
  const qr = qrcode(0, 'M');
  qr.addData(text, alnum ? 'Alphanumeric' : 'Byte');
  qr.make();
  const modules = qr.getModuleCount();
  const quiet = 4;
  const cell = Math.max(2, Math.floor(pixels / (modules + 2 * quiet)));
  const size = cell * (modules + 2 * quiet);
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  canvas.className = 'qr';
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', 'QR');
  canvas.dataset.code = text;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, size, size);
  ctx.fillStyle = '#000';
  for (let row = 0; row < modules; row += 1) {
    for (let col = 0; col < modules; col += 1) {
      if (qr.isDark(row, col)) ctx.fillRect((col + quiet) * cell, (row + quiet) * cell, cell, cell);
    }
  }
  return canvas;
}
