// Copies src/ to dist/. EverShop loads an extension's dist/ in production
// (and src/ in development); the extension is plain ES modules, so the
// "build" is a copy. No dependencies.
import { cpSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(resolve(root, 'dist'), { recursive: true, force: true });
cpSync(resolve(root, 'src'), resolve(root, 'dist'), { recursive: true });
console.log('shopstream-webhooks: src/ copied to dist/');
