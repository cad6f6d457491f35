export { UserService, ROLES, roleAllows, normalizeEmail, parseRole } from './user-service.js'
export type { ActiveSession, Invited, UserServiceOptions, UserView } from './user-service.js'
export { hashPassword, verifyPassword, MIN_PASSWORD_LENGTH } from './password.js'
