// scripts/api-docs: docs/api.md from the OpenAPI document, as the hub of this tree serves it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApiDocument } from '../packages/hub/src/api/openapi/index.ts';
import { apiMarkdown } from '../packages/hub/src/api/openapi/markdown.ts';
import { hubVersion } from '../packages/hub/src/version.ts';

const file = join(import.meta.dirname, '..', 'docs', 'api.md');
writeFileSync(file, apiMarkdown(openApiDocument(hubVersion)));
process.stdout.write(`wrote ${file}\n`);
