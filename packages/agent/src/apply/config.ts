// What a work's manifestConfigs say about one object, with OCM's defaults in one place:
// which configs apply (OCM's resource identifier matching, `*` wildcards), and the update
// strategy an apply uses when the work names none.
//
// Strategy × behaviour (the table README and docs/architecture.md repeat):
//   no manifestConfigs entry, or no updateStrategy  OCM's default (Update): server-side apply;
//                        on a conflict with another field manager the apply is repeated with
//                        force, so hand edits of declared fields are taken back (corrections)
//   ServerSideApply      server-side apply without force: another manager's field is a
//                        conflict, reported (Applied=False, ApplyConflict) and left alone
//   ServerSideApply + force  forced at once: declared fields are always taken back
//   Update               read, then replace when a declared field differs: hand edits reverted
//   CreateOnly           created when missing, never written again
//   ReadOnly             only read (status and feedback), never written, never owned
//   ignoreFields (with ServerSideApply) leave the named fields to the spoke in every case.
import {
  type FeedbackScrapeType,
  type IgnoreField,
  identifierMatches,
  type ManifestConfig,
  type UpdateStrategyType,
} from '@outpost/shared';

/** The object a config is looked up for. */
export interface ConfigTarget {
  group: string;
  resource: string;
  /** Effective namespace ('' for cluster-scoped objects). */
  namespace: string;
  /** metadata.namespace as written ('' when absent). */
  rawNamespace: string;
  name: string;
}

/**
 * The manifestConfigs that apply to an object, merged as OCM's work agent merges them: the
 * first matching entry that sets updateStrategy, feedbackRules or conditionRules decides
 * that part; feedbackScrapeType comes from the last matching entry. Undefined when none matches.
 */
export function findConfig(
  configs: readonly ManifestConfig[] | undefined,
  o: ConfigTarget,
): ManifestConfig | undefined {
  const target = {
    group: o.group,
    resource: o.resource,
    name: o.name,
    namespaces: o.rawNamespace === o.namespace ? [o.namespace] : [o.namespace, o.rawNamespace],
  };
  const matching = (configs ?? []).filter((c) => identifierMatches(c.resourceIdentifier, target));
  const first = matching[0];
  if (!first) return undefined;
  const merged: ManifestConfig = { resourceIdentifier: first.resourceIdentifier };
  const strategy = matching.find((c) => c.updateStrategy)?.updateStrategy;
  if (strategy) merged.updateStrategy = strategy;
  const feedback = matching.find((c) => c.feedbackRules?.length)?.feedbackRules;
  if (feedback) merged.feedbackRules = feedback;
  const rules = matching.find((c) => c.conditionRules?.length)?.conditionRules;
  if (rules) merged.conditionRules = rules;
  const scrape = matching.at(-1)?.feedbackScrapeType;
  if (scrape) merged.feedbackScrapeType = scrape;
  return merged;
}

export interface EffectiveStrategy {
  type: UpdateStrategyType;
  /** Server-side apply with force from the start. */
  force: boolean;
  /** On a conflict, apply again with force (the default when the work names no strategy). */
  forceOnConflict: boolean;
  /** The field manager the work asked for, if any (else the agent's). */
  fieldManager: string | undefined;
  ignoreFields: readonly IgnoreField[];
}

/** The update strategy of a manifest, OCM's default filled in. */
export function effectiveStrategy(config: ManifestConfig | undefined): EffectiveStrategy {
  const s = config?.updateStrategy;
  if (!s) {
    // OCM's default strategy is Update, which takes the declared fields back from any other
    // writer; server-side apply that forces only on a conflict does that without replacing
    // fields it does not declare.
    return { type: 'ServerSideApply', force: false, forceOnConflict: true, fieldManager: undefined, ignoreFields: [] };
  }
  const ssa = s.serverSideApply;
  return {
    type: s.type ?? 'Update',
    force: ssa?.force === true,
    forceOnConflict: false,
    fieldManager: ssa?.fieldManager || undefined,
    ignoreFields: ssa?.ignoreFields ?? [],
  };
}

/** OCM's default scrape type is Poll. */
export const scrapeTypeOf = (config: ManifestConfig | undefined): FeedbackScrapeType =>
  config?.feedbackScrapeType ?? 'Poll';
