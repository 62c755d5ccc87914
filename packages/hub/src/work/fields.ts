// Every field a ManifestWork spec may carry, as one tree: a field Outpost honours, a field
// OCM defines that Outpost does not honour yet (refused with UNSUPPORTED_FIELD naming it
// and, where one exists, the alternative), or neither (refused as unknown). No field of an
// accepted work is ever ignored. The manifests themselves are the spoke's business and are
// not walked here.

/** One node of the tree. */
export type FieldRule =
  | { kind: 'value' }
  | { kind: 'object'; fields: Record<string, FieldRule> }
  | { kind: 'list'; item: FieldRule }
  | { kind: 'unsupported'; alternative?: string };

const value: FieldRule = { kind: 'value' };
const object = (fields: Record<string, FieldRule>): FieldRule => ({ kind: 'object', fields });
const list = (item: FieldRule): FieldRule => ({ kind: 'list', item });
const unsupported = (alternative?: string): FieldRule =>
  alternative === undefined ? { kind: 'unsupported' } : { kind: 'unsupported', alternative };

const identifier = object({ group: value, resource: value, namespace: value, name: value });

export const workSpecFields: Record<string, FieldRule> = {
  workload: object({ manifests: value }),
  deleteOption: object({
    propagationPolicy: value,
    selectivelyOrphans: object({ orphaningRules: list(identifier) }),
    ttlSecondsAfterFinished: value,
  }),
  manifestConfigs: list(
    object({
      resourceIdentifier: identifier,
      updateStrategy: object({
        type: value,
        serverSideApply: object({
          force: value,
          fieldManager: value,
          ignoreFields: list(object({ condition: value, jsonPaths: value })),
        }),
      }),
      feedbackRules: list(
        object({
          type: value,
          jsonPaths: list(
            object({
              name: value,
              path: value,
              version: unsupported('the path is read from the object at the manifest’s own apiVersion'),
            }),
          ),
        }),
      ),
      feedbackScrapeType: value,
      conditionRules: list(
        object({
          condition: value,
          type: value,
          message: value,
          celExpressions: unsupported('type WellKnownConditions (CEL is not evaluated)'),
          messageExpression: unsupported('message (CEL is not evaluated)'),
        }),
      ),
    }),
  ),
  // The values are checked in validate.ts (only the ServiceAccount subject type, DNS names).
  executor: object({
    subject: object({ type: value, serviceAccount: object({ namespace: value, name: value }) }),
  }),
};

export interface FieldProblem {
  path: string;
  /** `unsupported`: an OCM field Outpost does not honour; `unknown`: no such field. */
  problem: 'unsupported' | 'unknown';
  alternative?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The first field of `value` (at `path`) that the tree does not honour, or undefined.
 * Shapes are checked elsewhere: a value of the wrong type is not walked into.
 */
export function fieldProblem(
  value: unknown,
  fields: Record<string, FieldRule>,
  path: string,
): FieldProblem | undefined {
  if (!isObject(value)) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const at = `${path}.${k.slice(0, 64)}`;
    const rule = fields[k];
    if (!rule) return { path: at, problem: 'unknown' };
    const found = walk(v, rule, at);
    if (found) return found;
  }
  return undefined;
}

function walk(v: unknown, rule: FieldRule, path: string): FieldProblem | undefined {
  switch (rule.kind) {
    case 'value':
      return undefined;
    case 'unsupported':
      // An OCM field left at its zero value asks for nothing (as a dumped object carries it).
      if (v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)) return undefined;
      return { path, problem: 'unsupported', ...(rule.alternative ? { alternative: rule.alternative } : {}) };
    case 'object':
      return fieldProblem(v, rule.fields, path);
    case 'list':
      if (!Array.isArray(v)) return undefined;
      for (const [i, item] of v.entries()) {
        const found = walk(item, rule.item, `${path}[${i}]`);
        if (found) return found;
      }
      return undefined;
  }
}
