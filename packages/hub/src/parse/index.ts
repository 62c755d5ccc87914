// parse/: how the hub reads text it did not write. YAML (admin API bodies, `apply -f`
// files, the CLI config) with kubectl's scalar rules and bounded cost, and the depth bound
// of JSON bodies. Failures are ParseError with a stable code, never anything else.
export { ParseError, type ParseErrorCode } from './errors.ts';
export { checkJsonDepth } from './json.ts';
export { YamlThread } from './off-thread.ts';
export { parseYaml, parseYamlDocuments, resolvePlain, type YamlOptions } from './yaml.ts';
