// The API reference (docs/api.md) rendered from the OpenAPI document: scripts/api-docs writes
// it, and the OpenAPI test renders the served document and compares, so the two cannot drift.

type Json = Record<string, unknown>;

const cell = (text: unknown) =>
  String(text ?? '')
    .replaceAll('|', '\\|')
    .replaceAll('\n', ' ');

/** `#/components/schemas/Name` → `Name` (a link to its section). */
function typeOf(schema: Json | undefined): string {
  if (!schema) return '';
  const ref = schema.$ref as string | undefined;
  if (ref) {
    const name = ref.split('/').at(-1) as string;
    return `[${name}](#schema-${name.toLowerCase()})`;
  }
  if (schema.const !== undefined) return `\`${JSON.stringify(schema.const)}\``;
  if (schema.enum) return (schema.enum as unknown[]).map((v) => `\`${String(v)}\``).join(' \\| ');
  if (schema.type === 'array') return `${typeOf(schema.items as Json)}[]`;
  if (schema.type === 'object' && schema.additionalProperties) {
    return `map of ${typeOf(schema.additionalProperties as Json)}`;
  }
  return String(schema.type ?? 'any');
}

function resolve(doc: Json, ref: string): Json {
  let at: unknown = doc;
  for (const part of ref.replace(/^#\//, '').split('/')) at = (at as Json)[part];
  return at as Json;
}

function operation(doc: Json, method: string, path: string, op: Json): string[] {
  const out = [`### ${method.toUpperCase()} \`${path}\``, '', String(op.summary), ''];
  if (op.description) out.push(String(op.description), '');
  const params = ((op.parameters as Json[] | undefined) ?? []).map((p) =>
    p.$ref ? resolve(doc, p.$ref as string) : p,
  );
  if (params.length) {
    out.push('| Parameter | In | Type | Description |', '| --- | --- | --- | --- |');
    for (const p of params) {
      out.push(`| \`${cell(p.name)}\` | ${cell(p.in)} | ${cell(typeOf(p.schema as Json))} | ${cell(p.description)} |`);
    }
    out.push('');
  }
  const body = op.requestBody as Json | undefined;
  if (body) {
    const content = body.content as Record<string, Json>;
    out.push(`Body${body.required ? '' : ' (optional)'}:`, '');
    for (const [type, c] of Object.entries(content)) out.push(`- \`${type}\`: ${typeOf(c.schema as Json)}`);
    out.push('');
  }
  out.push('| Status | Answer | Content |', '| --- | --- | --- |');
  for (const [status, r] of Object.entries(op.responses as Record<string, Json>)) {
    const answer = r.$ref ? resolve(doc, r.$ref as string) : r;
    const content = Object.entries((answer.content as Record<string, Json> | undefined) ?? {})
      .map(([type, c]) => `\`${type}\` ${typeOf(c.schema as Json)}`)
      .join('<br>');
    const headers = Object.keys((answer.headers as Json | undefined) ?? {});
    const note = headers.length ? ` (header ${headers.map((h) => `\`${h}\``).join(', ')})` : '';
    out.push(`| ${status} | ${cell(answer.description)}${cell(note)} | ${content} |`);
  }
  out.push('');
  return out;
}

function schemaSection(name: string, schema: Json): string[] {
  const out = [`<a id="schema-${name.toLowerCase()}"></a>`, '', `### ${name}`, ''];
  if (schema.description) out.push(String(schema.description), '');
  if (schema.type === 'array') {
    out.push(`A list of ${typeOf(schema.items as Json)}.`, '');
    const items = schema.items as Json;
    if (!items.properties) return out;
    schema = items;
  }
  const props = schema.properties as Record<string, Json> | undefined;
  if (!props || Object.keys(props).length === 0) return out;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  out.push('| Field | Type | Description |', '| --- | --- | --- |');
  for (const [field, p] of Object.entries(props)) {
    out.push(
      `| \`${field}\`${required.has(field) ? ' (required)' : ''} | ${cell(typeOf(p))} | ${cell(p.description)} |`,
    );
  }
  out.push('');
  return out;
}

/** docs/api.md for `doc` (an OpenAPI document as openApiDocument makes it). */
export function apiMarkdown(doc: Json): string {
  const info = doc.info as Json;
  const components = doc.components as Json;
  const out = [
    `# ${String(info.title)}`,
    '',
    '<!-- Made by scripts/api-docs from the hub’s OpenAPI document (GET /openapi.json): do not edit. -->',
    '',
    String(info.description),
    '',
    'The same document is served by every hub at `GET /openapi.json` (no credentials needed).',
    '',
    '## Authentication',
    '',
  ];
  for (const [name, s] of Object.entries(components.securitySchemes as Record<string, Json>)) {
    out.push(`- \`${name}\` (${String(s.type)}${s.scheme ? ` ${String(s.scheme)}` : ''}): ${String(s.description)}`);
  }
  out.push('', '## Errors', '');
  const statuses = Object.entries(components.responses as Record<string, Json>).filter(([n]) => !n.startsWith('Json'));
  out.push('| Status | When |', '| --- | --- |');
  for (const [name, r] of statuses) out.push(`| ${name.replace('Error', '')} | ${cell(r.description)} |`);
  out.push('');
  const tags = doc.tags as Json[];
  const paths = doc.paths as Record<string, Record<string, Json>>;
  for (const tag of tags) {
    out.push(`## ${String(tag.name)}`, '', String(tag.description), '');
    for (const [path, item] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(item)) {
        if ((op.tags as string[])[0] === tag.name) out.push(...operation(doc, method, path, op));
      }
    }
  }
  out.push('## Schemas', '');
  for (const [name, s] of Object.entries(components.schemas as Record<string, Json>))
    out.push(...schemaSection(name, s));
  return `${out.join('\n').trimEnd()}\n`;
}
