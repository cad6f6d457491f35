export * from './consent.js'
export * from './audit.js'
export * from './hash.js'
