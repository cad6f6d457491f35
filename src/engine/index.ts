export { Writer } from './writer.js'
export type { WriteOutcome, WriteStatus } from './writer.js'
export type { Message } from './message.js'
export { applyTraits, mergeTraits } from './traits.js'
