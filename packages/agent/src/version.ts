// The agent's version, from its package.json; reported to the hub as a claim.
import { createRequire } from 'node:module';

export const agentVersion: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
