/**
 * The one error type that crosses component boundaries. `code` is stable: clients and
 * tests match on it, so a code is never renamed, only added.
 */
export type ErrorCode =
  | 'invalid_json'
  | 'invalid_encoding'
  | 'unsupported_encoding'
  | 'unsupported_media_type'
  | 'invalid_body'
  | 'invalid_message'
  | 'invalid_request'
  | 'invalid_rule'
  | 'invalid_template'
  | 'invalid_model'
  | 'invalid_lifecycle'
  | 'payload_too_large'
  | 'batch_too_large'
  | 'missing_key'
  | 'invalid_key'
  | 'forbidden'
  | 'csrf_failed'
  | 'invalid_credentials'
  | 'invalid_session'
  | 'invalid_token'
  | 'user_not_found'
  | 'user_exists'
  | 'not_found'
  | 'profile_not_found'
  | 'key_not_found'
  | 'workspace_not_found'
  | 'segment_not_found'
  | 'model_not_found'
  | 'segment_in_use'
  | 'in_use'
  | 'suppressed'
  | 'rate_limited'
  | 'request_not_found'
  | 'send_failed'
  | 'overloaded'
  | 'shutting_down'
  | 'unavailable'
  | 'internal'

/** An HTTP status for each code, so that the one error handler needs no table of its own. */
const STATUS: Record<ErrorCode, number> = {
  invalid_json: 400,
  invalid_encoding: 400,
  unsupported_encoding: 415,
  unsupported_media_type: 415,
  invalid_body: 400,
  invalid_message: 400,
  invalid_request: 400,
  invalid_rule: 400,
  invalid_template: 400,
  invalid_model: 400,
  invalid_lifecycle: 400,
  payload_too_large: 413,
  batch_too_large: 413,
  missing_key: 401,
  invalid_key: 401,
  forbidden: 403,
  csrf_failed: 403,
  invalid_credentials: 401,
  invalid_session: 401,
  invalid_token: 400,
  user_not_found: 404,
  user_exists: 409,
  not_found: 404,
  profile_not_found: 404,
  key_not_found: 404,
  workspace_not_found: 404,
  segment_not_found: 404,
  model_not_found: 404,
  segment_in_use: 409,
  in_use: 409,
  suppressed: 409,
  request_not_found: 404,
  send_failed: 502,
  overloaded: 429,
  rate_limited: 429,
  shutting_down: 503,
  unavailable: 503,
  internal: 500,
}

/** A problem with one field of user input: where (`path`) and what was expected. */
export interface Issue {
  readonly path: string
  readonly message: string
}

export class SegflowError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly details: Record<string, unknown> | undefined
  /** Seconds a client should wait before retrying (429 and 503). */
  readonly retryAfter: number | undefined

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; retryAfter?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'SegflowError'
    this.code = code
    this.status = STATUS[code]
    this.details = options.details
    this.retryAfter = options.retryAfter
  }
}

/**
 * An error for input with problems in named fields: the message, and each issue as
 * `{field, reason}` under `issues` (what bodies and messages answer with).
 */
export function issuesError(
  code: ErrorCode,
  message: string,
  issues: readonly Issue[],
): SegflowError {
  return new SegflowError(code, message, {
    details: { issues: issues.map((i) => ({ field: i.path, reason: i.message })) },
  })
}

export function isSegflowError(e: unknown): e is SegflowError {
  return e instanceof SegflowError
}

/** The result of parsing user input: a value, or every issue found. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; issues: Issue[] }
