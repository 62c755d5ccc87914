// parse/: how the hub reads text it did not write. YAML (admin API bodies, `apply -f`
// files, the CLI config) with kubectl's scalar rules and bounded cost, the depth bound of
// JSON bodies, and the thread that reads large bodies away from the event loop. Failures
// are ParseError with a stable code, or the route's own validation error. Also the one
// writer of YAML the hub answers with (writeYaml), so what it writes is what it reads.
export { ParseError, type ParseErrorCode } from './errors.ts';
export { checkJsonDepth } from './json.ts';
export { BodyThread, RawBody, type WorkSetBody, type WorkSetSpecText } from './off-thread.ts';
export {
  errorLine,
  parseYaml,
  parseYamlDocuments,
  parseYamlDocumentsAt,
  resolvePlain,
  writeYaml,
  type YamlOptions,
} from './yaml.ts';
