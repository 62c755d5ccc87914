// The hub's version, from its package.json.
import { createRequire } from 'node:module';

export const hubVersion: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
