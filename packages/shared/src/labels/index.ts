// Names and labels exactly as Kubernetes validates them (apimachinery's
// validation.IsDNS1123Label, IsQualifiedName and IsValidLabelValue).

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export function isDns1123Label(value: string): boolean {
  return value.length <= 63 && dns1123Label.test(value);
}

/** Returns why `key` is not a valid label key, or undefined when it is. */
export function labelKeyError(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !dns1123Subdomain.test(prefix))) {
    return 'prefix must be a DNS subdomain of at most 253 characters';
  }
  if (name.length === 0 || name.length > 63 || !qualifiedNamePart.test(name)) {
    return 'name part must be 1-63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric';
  }
  return undefined;
}

/** Returns why `value` is not a valid label value, or undefined when it is. */
export function labelValueError(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !qualifiedNamePart.test(value)) {
    return 'must be at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric';
  }
  return undefined;
}

/** Checks a whole label map; returns a list of problems (empty when valid). */
export function labelErrors(labels: unknown, max = 64): string[] {
  if (labels === undefined) return [];
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) return ['labels must be an object'];
  const entries = Object.entries(labels);
  const problems: string[] = [];
  if (entries.length > max) problems.push(`at most ${max} labels`);
  for (const [k, v] of entries.slice(0, max + 1)) {
    const keyErr = labelKeyError(k);
    if (keyErr) problems.push(`label key ${JSON.stringify(k.slice(0, 80))}: ${keyErr}`);
    if (typeof v !== 'string') problems.push(`label ${JSON.stringify(k.slice(0, 80))}: value must be a string`);
    else {
      const valErr = labelValueError(v);
      if (valErr) problems.push(`label ${JSON.stringify(k.slice(0, 80))}: value ${valErr}`);
    }
  }
  return problems;
}

/** Parses `k=v,k2=v2` (the CLI's --labels form). */
export function parseLabelList(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`label ${JSON.stringify(part)} must be key=value`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}
