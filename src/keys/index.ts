export { KeyService, DEFAULT_WORKSPACE, generateKey, hashKey } from './key-service.js'
export type { CreatedKey, KeyServiceOptions } from './key-service.js'
