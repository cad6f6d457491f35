import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { LifecycleService } from '../engine/lifecycle-service.js'
import type { ScoreService } from '../engine/score-service.js'
import { Type } from '@sinclair/typebox'
import { Nullable, ref } from './api-schemas.js'
import {
  adminErrors,
  answer,
  documented,
  ERASED,
  itemsOf,
  KEY,
  NO_QUERY,
  pathParams,
  PROFILE_ID,
  small,
} from './route-schemas.js'

const doc = documented('scores')
const life = documented('lifecycle')
const MODEL = KEY('scoring model')

const SCORE_EXPLANATION = Type.Object({
  profile: Type.String(),
  model: Type.String(),
  at: Type.String({ format: 'date-time' }),
  score: Type.Optional(Type.Number()),
  criteria: Type.Optional(Type.Array(Type.Object({}), { description: 'criterion by criterion' })),
})

const STAGE_EXPLANATION = Type.Object({
  profile: Type.String(),
  stage: Nullable(Type.String()),
  since: Nullable(Type.String({ format: 'date-time' })),
  stages: Type.Array(
    Type.Object({
      stage: Type.String(),
      name: Type.String(),
      member: Type.Boolean(),
      explanation: Type.Object({}),
    }),
  ),
})

/** `/api/scores` (scoring models), `/api/lifecycle` (stages), and a person's score and stage. */
export async function scoreRoutes(
  app: FastifyInstance,
  scores: ScoreService,
  lifecycle: LifecycleService,
): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get(
    '/scores',
    doc('Scoring models', {
      querystring: NO_QUERY,
      response: { 200: answer(itemsOf(ref('ScoreModel'))), ...adminErrors() },
    }),
    async (req) => ({ items: await scores.list(req.workspaceId) }),
  )
  api.get(
    '/scores/presets',
    doc('Preset models (engagement), as PUT /api/scores/:key takes them', {
      querystring: NO_QUERY,
      response: {
        200: answer(Type.Object({}, { additionalProperties: ref('ScoreModelInput') })),
        ...adminErrors(),
      },
    }),
    async () => scores.presets(),
  )
  api.get(
    '/scores/:key',
    doc('A scoring model', {
      params: MODEL,
      querystring: NO_QUERY,
      response: { 200: answer(ref('ScoreModel')), ...adminErrors() },
    }),
    async (req) => scores.get(req.workspaceId, req.params.key),
  )
  const saved = Type.Intersect([
    ref('ScoreModel'),
    Type.Object({
      republished: Type.Array(Type.String(), { description: 'segments given a new version' }),
    }),
  ])
  api.put(
    '/scores/:key',
    doc('Create or change a model; segments using it get a new version', {
      params: MODEL,
      querystring: NO_QUERY,
      documentedBody: ref('ScoreModelInput'),
      response: { 200: answer(saved), 201: answer(saved, 'Created'), ...adminErrors() },
    }),
    async (req, reply) => {
      const { model, created, republished } = await scores.put(
        req.workspaceId,
        req.params.key,
        req.body,
      )
      return reply.status(created ? 201 : 200).send({ ...model, republished })
    },
  )
  api.delete(
    '/scores/:key',
    doc('Delete a model no segment uses', {
      params: MODEL,
      querystring: NO_QUERY,
      response: {
        200: answer(small({ deleted: Type.String() })),
        ...adminErrors({ 409: 'A segment uses it' }),
      },
    }),
    async (req) => {
      await scores.remove(req.workspaceId, req.params.key)
      return { deleted: req.params.key }
    },
  )
  api.get(
    '/profiles/:id/scores/:key',
    doc("A person's score, criterion by criterion", {
      params: pathParams({ id: PROFILE_ID, key: 'scoring model key' }),
      querystring: NO_QUERY,
      response: { 200: answer(SCORE_EXPLANATION), ...adminErrors(ERASED) },
    }),
    async (req) => scores.explain(req.workspaceId, req.params.id, req.params.key),
  )

  api.get(
    '/lifecycle',
    life('Lifecycle stages (or the defaults, when not enabled)', {
      querystring: NO_QUERY,
      response: { 200: answer(ref('Lifecycle')), ...adminErrors() },
    }),
    async (req) => lifecycle.get(req.workspaceId),
  )
  api.put(
    '/lifecycle',
    life('Set the ordered stages (first match wins); {"preset": "default"} for the defaults', {
      querystring: NO_QUERY,
      documentedBody: ref('LifecycleInput'),
      response: { 200: answer(ref('Lifecycle')), ...adminErrors() },
    }),
    async (req) => lifecycle.put(req.workspaceId, req.body),
  )
  api.delete(
    '/lifecycle',
    life('Turn lifecycle stages off (their segments are deleted)', {
      querystring: NO_QUERY,
      response: { 200: answer(small({ deleted: Type.Literal('lifecycle') })), ...adminErrors() },
    }),
    async (req) => {
      await lifecycle.remove(req.workspaceId)
      return { deleted: 'lifecycle' }
    },
  )
  api.get(
    '/profiles/:id/lifecycle',
    life("A person's stage, and each stage's explanation", {
      params: pathParams({ id: PROFILE_ID }),
      querystring: NO_QUERY,
      response: { 200: answer(STAGE_EXPLANATION), ...adminErrors(ERASED) },
    }),
    async (req) => lifecycle.explain(req.workspaceId, req.params.id),
  )
}
