import cors from '@fastify/cors'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import secureJson from 'secure-json-parse'
import { Transform } from 'node:stream'
import type { Readable } from 'node:stream'
import { createGunzip, createInflate } from 'node:zlib'
import { LIMITS, SUSPECT_ESCAPES } from '../ingest/message.js'
import type { BodyInfo, Ingestor } from '../ingest/ingestor.js'
import type { KeyService } from '../keys/key-service.js'
import { SegflowError } from '../shared/errors.js'
import type { Metrics } from '../shared/metrics.js'
import { toSegflowError } from './errors.js'
import { Type } from '@sinclair/typebox'
import { ref } from './api-schemas.js'
import { answer, documented, errorAnswer } from './route-schemas.js'
import { isPlainObject } from '../shared/json.js'
import type { MessageType } from '../store/store.js'

export interface IngestRouteDeps {
  readonly ingestor: Ingestor
  readonly keys: KeyService
  readonly metrics: Metrics
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Decoded (decompressed) size of the request body, and whether it needs sanitising. */
    bodyInfo: BodyInfo
  }
}

const SINGLE: ReadonlyArray<readonly [MessageType, string]> = [
  ['track', 't'],
  ['identify', 'i'],
  ['page', 'p'],
  ['screen', 's'],
  ['group', 'g'],
  ['alias', 'a'],
]

const doc = documented('tracking')
/** The write key as HTTP Basic username, or `writeKey` in the body (hence the empty one). */
const WRITE_KEY: Record<string, string[]>[] = [{ writeKey: [] }, {}]
const ERRORS = {
  400: errorAnswer('Not JSON, or a message that is not valid (`error.code` says why)'),
  401: errorAnswer('No write key, or an unknown or revoked one'),
  403: errorAnswer('Not a write key'),
  429: errorAnswer('Queue full: retry after Retry-After seconds'),
  503: errorAnswer('The database is unavailable, or segflow is shutting down (Retry-After)'),
}
const BATCH_ANSWER = Type.Object({
  success: Type.Boolean(),
  accepted: Type.Integer(),
  duplicates: Type.Integer(),
  suppressed: Type.Integer({ description: 'messages about erased people, dropped' }),
  rejected: Type.Array(
    Type.Object({ index: Type.Integer(), field: Type.String(), reason: Type.String() }),
    { description: 'the messages refused, by index; the others are stored' },
  ),
})

/** The write key: HTTP Basic username (Segment's server SDKs) or `writeKey` in the body (analytics.js). */
function writeKeyOf(req: FastifyRequest, body: unknown): string | null {
  const auth = req.headers.authorization
  if (auth && /^basic /i.test(auth)) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8')
    const user = decoded.split(':')[0] ?? ''
    if (user !== '') return user
  }
  if (isPlainObject(body) && typeof body.writeKey === 'string' && body.writeKey !== '')
    return body.writeKey
  return null
}

/** Counts the compressed bytes read so fastify can check Content-Length against them. */
function decompress(payload: Readable, encoding: string): Readable {
  const inflater = encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : createInflate()
  const counted = Object.assign(inflater, { receivedEncodedLength: 0 })
  payload
    .pipe(
      new Transform({
        transform(chunk: Buffer, _enc, done) {
          counted.receivedEncodedLength += chunk.length
          done(null, chunk)
        },
      }),
    )
    .pipe(inflater)
  payload.on('error', (e) => inflater.destroy(e))
  return counted
}

/**
 * The Segment HTTP Tracking API under /v1: the six message endpoints, their analytics.js
 * short forms, batch, and the settings analytics.js loads at start. Bodies are JSON whatever
 * the content type (analytics.js sends text/plain to avoid a CORS preflight), optionally gzip.
 */
export async function ingestRoutes(app: FastifyInstance, deps: IngestRouteDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  await app.register(cors, {
    origin: true,
    methods: ['GET', 'POST', 'OPTIONS'],
    maxAge: 86_400,
  })

  app.decorateRequest('bodyInfo', null as unknown as BodyInfo)
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string
    req.bodyInfo = {
      bytes: Buffer.byteLength(text),
      suspect: SUSPECT_ESCAPES.test(text),
      gpc: req.headers['sec-gpc']?.toString().trim() === '1',
    }
    if (text.trim() === '') {
      done(
        new SegflowError('invalid_json', 'request body is empty; expected a JSON object'),
        undefined,
      )
      return
    }
    try {
      done(
        null,
        secureJson.parse(text, undefined, { protoAction: 'remove', constructorAction: 'remove' }),
      )
    } catch (e) {
      done(
        new SegflowError('invalid_json', `request body is not valid JSON: ${(e as Error).message}`),
        undefined,
      )
    }
  })

  app.addHook('preParsing', async (req, _reply, payload) => {
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim()
    if (encoding === 'identity' || encoding === '') return payload
    if (['gzip', 'x-gzip', 'deflate'].includes(encoding)) return decompress(payload, encoding)
    throw new SegflowError(
      'unsupported_encoding',
      `Content-Encoding ${JSON.stringify(encoding)} is not supported; use gzip`,
    )
  })

  // Every refused request is counted once, by its error code; a batch refused because all
  // its messages are bad counts each of them.
  app.addHook('onError', async (req, _reply, err) => {
    const e = toSegflowError(err, req)
    const rejected = e.details?.rejected
    const count = Array.isArray(rejected)
      ? new Set(rejected.map((r: { index: number }) => r.index)).size
      : 1
    deps.metrics.rejected.inc({ reason: e.code }, count)
  })

  const authenticate = async (req: FastifyRequest): Promise<string> => {
    const key = writeKeyOf(req, req.body)
    if (key === null) {
      throw new SegflowError(
        'missing_key',
        'no write key: send it as the HTTP Basic username or as writeKey in the body',
      )
    }
    return (await deps.keys.require(key, 'write')).workspaceId
  }

  for (const [type, short] of SINGLE) {
    for (const path of [`/${type}`, `/${short}`]) {
      const options = {
        bodyLimit: LIMITS.messageBytes,
        ...doc(`A ${type} message${path === `/${short}` ? ' (analytics.js short path)' : ''}`, {
          security: WRITE_KEY,
          // The ingestor checks messages itself: Segment's rules, field paths in its errors.
          documentedBody: ref('SegmentMessage'),
          response: {
            200: answer(Type.Object({ success: Type.Literal(true) })),
            413: errorAnswer('Over 32 KB; send larger payloads to /v1/batch'),
            ...ERRORS,
          },
        }),
      }
      api.post(path, options, async (req) => {
        const workspaceId = await authenticate(req)
        await deps.ingestor.single(workspaceId, type, req.body, req.bodyInfo)
        return { success: true }
      })
    }
  }

  for (const path of ['/batch', '/b', '/import']) {
    const options = {
      bodyLimit: LIMITS.batchBytes,
      ...doc(
        path === '/import'
          ? 'A batch of historical messages (an import: transitions are flagged historical)'
          : 'Several messages at once (up to 2,500 and 500 KB); good ones are stored, bad ones named',
        {
          security: WRITE_KEY,
          documentedBody: Type.Object({
            batch: Type.Array(ref('SegmentMessage')),
            sentAt: Type.Optional(Type.String({ format: 'date-time' })),
            context: Type.Optional(Type.Object({})),
            writeKey: Type.Optional(Type.String()),
          }),
          response: {
            200: answer(BATCH_ANSWER),
            413: errorAnswer('Over 500 KB or 2,500 messages'),
            ...ERRORS,
          },
        },
      ),
    }
    api.post(path, options, async (req) => {
      const workspaceId = await authenticate(req)
      const r = await deps.ingestor.batch(workspaceId, req.body, req.bodyInfo)
      return {
        success: true,
        accepted: r.accepted,
        duplicates: r.duplicates,
        suppressed: r.suppressed,
        rejected: r.rejected,
      }
    })
  }

  // analytics.js (analytics-next) loads its settings from here before it sends anything.
  api.get(
    '/projects/:writeKey/settings',
    doc('The settings analytics.js loads at start', {
      security: [],
      params: Type.Object({ writeKey: Type.String({ description: 'a write key' }) }),
      response: {
        200: answer(
          Type.Object(
            { integrations: Type.Object({}), plan: Type.Object({}) },
            { description: "analytics.js's CDN settings, pointing it at this server" },
          ),
        ),
        401: ERRORS[401],
        403: ERRORS[403],
        503: ERRORS[503],
      },
    }),
    async (req) => {
      await deps.keys.require(req.params.writeKey, 'write')
      // With trustProxy, fastify's hostname is the proxy's X-Forwarded-Host.
      const host = req.host
      return {
        integrations: {
          'Segment.io': {
            apiKey: req.params.writeKey,
            apiHost: `${String(host)}/v1`,
            protocol: req.protocol,
            unbundledIntegrations: [],
            addBundledMetadata: true,
            maybeBundledConfigIds: {},
          },
        },
        plan: {
          track: { __default: { enabled: true, integrations: {} } },
          identify: { __default: { enabled: true } },
          group: { __default: { enabled: true } },
        },
        edgeFunction: {},
        analyticsNextEnabled: true,
        middlewareSettings: {},
        enabledMiddleware: {},
        // analytics.js would otherwise report its own metrics to Segment's servers.
        metrics: { sampleRate: 0 },
        legacyVideoPluginsEnabled: false,
        remotePlugins: [],
      }
    },
  )
}
