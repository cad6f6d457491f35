export * from './consent.js'
export * from './audit.js'
