import fs from 'node:fs';
import path from 'node:path';

/**
 * The checkout's root: the nearest directory above this file that holds package.json. The same
 * answer for src/ run as TypeScript and for dist/src/ compiled (dist/ has no package.json), so the
 * compiled service reads contracts/ from the checkout as the TypeScript one does
 * (contracts/decisions/0078-compiled-service.md).
 */
export function projectRoot(from: string = __dirname): string {
  for (let directory = from; ; directory = path.dirname(directory)) {
    if (fs.existsSync(path.join(directory, 'package.json'))) return directory;
    if (path.dirname(directory) === directory) throw new Error(`no package.json above ${from}`);
  }
}
