export type * from './types.js'
export { AT_LEAST_ONCE, EMAIL_EVENTS } from './types.js'
export { parseRule, formatPath, SEGMENT_KEY, STAGE_KEY, MAX_DEPTH, MAX_LIST } from './parse.js'
export type { ParsedRule, RuleIssue } from './parse.js'
export { parseRuleYaml, parseSegmentsYaml } from './yaml.js'
export type { ParsedSegments, SegmentDefinition } from './yaml.js'
export {
  desugar,
  segmentRefs,
  scoreRefs,
  usesReachable,
  stageSegment,
  isStageKey,
  STAGE_PREFIX,
} from './desugar.js'
export type { DesugarContext } from './desugar.js'
export { checkReferences, dependencyOrder } from './references.js'
export type { ReferenceIssue } from './references.js'
export { describeRule, describeFilter } from './describe.js'
export { ruleToJson } from './serialize.js'
export { checkRuleSource, ruleToYaml } from './source.js'
export type { CheckedSource, RuleFormat, SourceIssue } from './source.js'
