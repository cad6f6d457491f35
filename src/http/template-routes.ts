import type { FastifyInstance } from 'fastify'
import type { TemplatePreviews } from '../content/previews.js'
import { templateView } from '../content/templates.js'
import type { TemplateService } from '../content/templates.js'
import type { EmailAdmin } from '../delivery/email-admin.js'
import type { EmailSettingsService } from '../delivery/settings.js'
import { limitParam } from './automation-routes.js'

interface KeyParams {
  key: string
}

export interface TemplateRouteDeps {
  readonly templates: TemplateService
  readonly previews: TemplatePreviews
  readonly emailSettings: EmailSettingsService
  readonly email: EmailAdmin
}

/**
 * `/api/templates` (Liquid email templates, previews, test sends) and `/api/email` (settings,
 * subscription status, sends).
 */
export async function templateRoutes(app: FastifyInstance, deps: TemplateRouteDeps): Promise<void> {
  const { templates, previews, emailSettings, email } = deps
  app.get('/templates', async (req) => ({
    items: (await templates.list(req.workspaceId)).map(templateView),
  }))
  app.get<{ Params: KeyParams }>('/templates/:key', async (req) => {
    const { template, warnings } = await templates.get(req.workspaceId, req.params.key)
    return { ...templateView(template), warnings }
  })
  app.put<{ Params: KeyParams }>('/templates/:key', async (req, reply) => {
    const { template, created, warnings } = await templates.put(
      req.workspaceId,
      req.params.key,
      req.body,
    )
    return reply.status(created ? 201 : 200).send({ ...templateView(template), warnings })
  })
  app.delete<{ Params: KeyParams }>('/templates/:key', async (req) => {
    await templates.remove(req.workspaceId, req.params.key)
    return { deleted: req.params.key }
  })
  app.post<{ Params: KeyParams }>('/templates/:key/preview', async (req) =>
    previews.preview(req.workspaceId, req.params.key, req.body ?? {}),
  )
  app.post<{ Params: KeyParams }>('/templates/:key/send', async (req) =>
    email.send(req.workspaceId, req.params.key, req.body),
  )
  app.get('/email/settings', async (req) => emailSettings.get(req.workspaceId))
  app.put('/email/settings', async (req) => emailSettings.put(req.workspaceId, req.body))
  app.get<{ Params: { id: string } }>('/email/status/:id', async (req) =>
    email.status(req.workspaceId, req.params.id),
  )
  app.put<{ Params: { id: string } }>('/email/status/:id', async (req) =>
    email.setStatus(req.workspaceId, req.params.id, req.body),
  )
  app.get<{ Querystring: { profile?: string; limit?: string } }>('/email/sends', async (req) => ({
    items: await email.sends(
      req.workspaceId,
      req.query.profile ?? null,
      limitParam(req.query.limit, 100, 1000),
    ),
  }))
}
