import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { TemplatePreviews } from '../content/previews.js'
import { templateView } from '../content/templates.js'
import type { TemplateService } from '../content/templates.js'
import type { EmailAdmin } from '../delivery/email-admin.js'
import type { EmailSettingsService } from '../delivery/settings.js'
import { Type } from '@sinclair/typebox'
import { Nullable, ref, OneOf } from './api-schemas.js'
import {
  adminErrors,
  answer,
  documented,
  itemsOf,
  KEY,
  NO_QUERY,
  pathParams,
  small,
} from './route-schemas.js'
import { limitParam } from './automation-routes.js'
import { querySchema, text } from './query-schema.js'

export interface TemplateRouteDeps {
  readonly templates: TemplateService
  readonly previews: TemplatePreviews
  readonly emailSettings: EmailSettingsService
  readonly email: EmailAdmin
}

const doc = documented('email')
const TEMPLATE = KEY('template')
const PERSON = pathParams({ id: 'profile id, userId, anonymousId or email' })
const EMAIL_STATUS = OneOf(['subscribed', 'unsubscribed', 'bounced'])
const STATUS_ANSWER = answer(small({ profileId: Type.String(), status: EMAIL_STATUS }))

/** `GET /api/email/sends`: read by the route itself. */
export const SENDS_QUERY = querySchema({
  profile: text('only to this person (any of their ids)'),
  limit: text('1–1000 (default 100)'),
})

const SEND = Type.Object({
  id: Type.String(),
  profileId: Type.String(),
  address: Type.String(),
  template: Type.String(),
  automation: Nullable(Type.String()),
  category: Type.String(),
  status: Type.String(),
  messageId: Type.String(),
  error: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  sentAt: Nullable(Type.String({ format: 'date-time' })),
})

/**
 * `/api/templates` (Liquid email templates, previews, test sends) and `/api/email` (settings,
 * subscription status, sends).
 */
export async function templateRoutes(app: FastifyInstance, deps: TemplateRouteDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  const { templates, previews, emailSettings, email } = deps
  api.get(
    '/templates',
    doc('Email templates', {
      querystring: NO_QUERY,
      response: { 200: answer(itemsOf(ref('Template'))), ...adminErrors() },
    }),
    async (req) => ({ items: (await templates.list(req.workspaceId)).map(templateView) }),
  )
  api.get(
    '/templates/:key',
    doc('A template, with lint warnings', {
      params: TEMPLATE,
      querystring: NO_QUERY,
      response: { 200: answer(ref('Template')), ...adminErrors() },
    }),
    async (req) => {
      const { template, warnings } = await templates.get(req.workspaceId, req.params.key)
      return { ...templateView(template), warnings }
    },
  )
  api.put(
    '/templates/:key',
    doc('Create or replace a template; syntax errors are refused with line and column', {
      params: TEMPLATE,
      querystring: NO_QUERY,
      // Checked by the template service: Liquid errors carry the line and column.
      documentedBody: Type.Object({
        subject: Type.String({ description: 'Liquid' }),
        html: Type.String({ description: 'Liquid; values are HTML-escaped unless `| raw`' }),
        text: Type.Optional(Nullable(Type.String({ description: 'Liquid; the plain-text part' }))),
      }),
      response: {
        200: answer(ref('Template')),
        201: answer(ref('Template'), 'Created'),
        ...adminErrors(),
      },
    }),
    async (req, reply) => {
      const { template, created, warnings } = await templates.put(
        req.workspaceId,
        req.params.key,
        req.body,
      )
      return reply.status(created ? 201 : 200).send({ ...templateView(template), warnings })
    },
  )
  api.delete(
    '/templates/:key',
    doc('Delete a template (refused while an automation sends it)', {
      params: TEMPLATE,
      querystring: NO_QUERY,
      response: {
        200: answer(small({ deleted: Type.String() })),
        ...adminErrors({ 409: 'In use by an automation' }),
      },
    }),
    async (req) => {
      await templates.remove(req.workspaceId, req.params.key)
      return { deleted: req.params.key }
    },
  )
  api.post(
    '/templates/:key/preview',
    doc(
      'Render for one profile ({"profile": "…"}), or for a sample member of every segment ({}): a QA matrix',
      {
        params: TEMPLATE,
        querystring: NO_QUERY,
        documentedBody: Type.Object({ profile: Type.Optional(Type.String()) }),
        response: {
          200: answer(
            Type.Object({
              template: Type.String(),
              warnings: Type.Array(Type.String()),
              previews: Type.Array(Type.Object({}), {
                description: 'one per segment (or the one person): who, and the rendered parts',
              }),
            }),
          ),
          ...adminErrors(),
        },
      },
    ),
    async (req) => previews.preview(req.workspaceId, req.params.key, req.body ?? {}),
  )
  api.post(
    '/templates/:key/send',
    doc('Send the template to one person now', {
      params: TEMPLATE,
      querystring: NO_QUERY,
      documentedBody: Type.Object({
        profile: Type.String(),
        category: Type.Optional(OneOf(['transactional', 'marketing'])),
        idempotencyKey: Type.Optional(Type.String()),
      }),
      response: {
        200: answer(
          Type.Object({
            status: OneOf(['sent', 'skipped']),
            sendId: Type.Optional(Type.String()),
            messageId: Type.Optional(Type.String()),
            reason: Type.Optional(Type.String({ description: 'why it was skipped' })),
          }),
        ),
        ...adminErrors({ 502: 'The SMTP server refused or failed' }),
      },
    }),
    async (req) => email.send(req.workspaceId, req.params.key, req.body),
  )
  api.get(
    '/email/settings',
    doc('From address, frequency caps and consent rule', {
      querystring: NO_QUERY,
      response: { 200: answer(ref('EmailSettings')), ...adminErrors() },
    }),
    async (req) => emailSettings.get(req.workspaceId),
  )
  api.put(
    '/email/settings',
    doc('Set the From address, frequency caps and consent rule', {
      querystring: NO_QUERY,
      documentedBody: ref('EmailSettings'),
      response: { 200: answer(ref('EmailSettings')), ...adminErrors() },
    }),
    async (req) => emailSettings.put(req.workspaceId, req.body),
  )
  api.get(
    '/email/status/:id',
    doc('Subscription status: subscribed, unsubscribed or bounced', {
      params: PERSON,
      querystring: NO_QUERY,
      response: { 200: STATUS_ANSWER, ...adminErrors() },
    }),
    async (req) => email.status(req.workspaceId, req.params.id),
  )
  api.put(
    '/email/status/:id',
    doc('Subscribe or unsubscribe a person', {
      params: PERSON,
      querystring: NO_QUERY,
      documentedBody: Type.Object({
        status: OneOf(['subscribed', 'unsubscribed']),
        reason: Type.Optional(Type.String()),
      }),
      response: { 200: STATUS_ANSWER, ...adminErrors() },
    }),
    async (req) => email.setStatus(req.workspaceId, req.params.id, req.body),
  )
  api.get(
    '/email/sends',
    doc('Emails sent, newest first', {
      querystring: SENDS_QUERY,
      response: { 200: answer(itemsOf(SEND)), ...adminErrors() },
    }),
    async (req) => ({
      items: await email.sends(
        req.workspaceId,
        req.query.profile ?? null,
        limitParam(req.query.limit, 100, 1000),
      ),
    }),
  )
}
