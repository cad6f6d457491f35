import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { SegflowError } from '../shared/errors.js'
import { isUnavailableError } from '../store/errors.js'

function kb(bytes: number): string {
  return `${Math.round(bytes / 1024)} KB`
}

/** Turns anything thrown while handling a request into a SegflowError with a stable code. */
export function toSegflowError(err: unknown, req: FastifyRequest): SegflowError {
  if (err instanceof SegflowError) return err
  const e = err as Partial<FastifyError> & { message?: string }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': {
      const limit = req.routeOptions.bodyLimit ?? 0
      return new SegflowError(
        'payload_too_large',
        `request body is larger than the ${kb(limit)} limit of ${req.method} ${req.routeOptions.url ?? req.url}` +
          (req.url.startsWith('/v1/') && !/\/v1\/b(atch)?$/.test(req.url)
            ? '; send larger payloads to /v1/batch (500 KB)'
            : ''),
      )
    }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SegflowError(
        'unsupported_media_type',
        `content type ${JSON.stringify(req.headers['content-type'] ?? '')} is not supported; send application/json`,
      )
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new SegflowError('invalid_json', `request body is not valid JSON: ${e.message}`)
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new SegflowError('invalid_json', 'request body is empty; expected a JSON object')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new SegflowError(
        'invalid_request',
        'request body length does not match Content-Length',
      )
    case 'FST_ERR_VALIDATION':
      return new SegflowError('invalid_request', e.message ?? 'request is not valid')
    case 'Z_DATA_ERROR':
    case 'Z_BUF_ERROR':
    case 'Z_STREAM_ERROR':
      return new SegflowError(
        'invalid_encoding',
        `request body could not be decompressed: ${e.message}`,
      )
    default:
      break
  }
  if (isUnavailableError(err)) {
    return new SegflowError('unavailable', 'the database is unavailable; retry later', {
      retryAfter: 1,
      cause: err,
    })
  }
  if (err instanceof SyntaxError) {
    return new SegflowError('invalid_json', `request body is not valid JSON: ${err.message}`)
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new SegflowError('invalid_request', e.message ?? 'request is not valid')
  }
  return new SegflowError('internal', 'internal error; it has been logged', { cause: err })
}

/** The one error handler: every error response is `{error: {code, message, ...details}}`. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = toSegflowError(err, req)
    if (e.status >= 500) req.log.error({ err: e.code === 'internal' ? err : e }, e.message)
    if (e.retryAfter !== undefined) void reply.header('Retry-After', String(e.retryAfter))
    return reply
      .status(e.status)
      .send({ error: { code: e.code, message: e.message, ...e.details } })
  })
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) =>
    reply
      .status(404)
      .send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } }),
  )
}
