import type { FastifyInstance } from 'fastify'
import { issuesError } from '../shared/errors.js'
import { parseRole } from '../users/user-service.js'
import type { UserService } from '../users/user-service.js'

type EmailParams = { email: string }

/** Only admins (an admin key, or a user with the admin role) manage a workspace's users. */
const admin = { config: { role: 'admin' as const } }

/**
 * `/api/users`: the workspace's users and their roles. `PUT /api/users/:email {role}` invites
 * (a new user gets a one-time set-password link in the answer) or changes a role; DELETE
 * takes the user's role here away and ends their sessions here.
 */
export async function userRoutes(app: FastifyInstance, users: UserService): Promise<void> {
  app.get('/users', admin, async (req) => ({ items: await users.listWorkspace(req.workspaceId) }))

  app.get<{ Params: EmailParams }>('/users/:email', admin, async (req) =>
    users.get(req.params.email, req.workspaceId),
  )

  app.put<{ Params: EmailParams }>('/users/:email', admin, async (req, reply) => {
    const b = req.body
    if (typeof b !== 'object' || b === null || Array.isArray(b))
      throw issuesError('invalid_request', 'send a JSON object like {"role": "editor"}', [
        { path: '', message: 'must be an object with a role' },
      ])
    const role = parseRole((b as Record<string, unknown>).role)
    const out = await users.invite({
      email: req.params.email,
      workspaceId: req.workspaceId,
      role,
      actor: req.actor,
    })
    return reply.status(out.created ? 201 : 200).send({
      ...out.user,
      ...(out.link ? { setPasswordUrl: out.link.url, linkExpiresAt: out.link.expiresAt } : {}),
    })
  })

  app.delete<{ Params: EmailParams }>('/users/:email', admin, async (req, reply) => {
    await users.remove(req.params.email, req.workspaceId, req.actor)
    return reply.status(204).send()
  })
}
