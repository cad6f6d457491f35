export { parseModel, PRESETS, ENGAGEMENT_PRESET, MODEL_KEY, MAX_CRITERIA } from './model.js'
export type { ParsedModel, ModelResult } from './model.js'
export {
  microPoints,
  decayed,
  capped,
  horizonOf,
  halvingsToZero,
  VELOCITY,
  VELOCITY_MODEL,
} from './points.js'
export { parseLifecycle, DEFAULT_STAGES, stageRules } from './lifecycle.js'
export type { Stage, ParsedLifecycle } from './lifecycle.js'
