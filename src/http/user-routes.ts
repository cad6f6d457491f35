import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { issuesError } from '../shared/errors.js'
import { parseRole } from '../users/user-service.js'
import type { UserService } from '../users/user-service.js'
import { Type } from '@sinclair/typebox'
import { ref, OneOf } from './api-schemas.js'
import { adminErrors, answer, documented, itemsOf, NO_QUERY, pathParams } from './route-schemas.js'

/** Only admins (an admin key, or a user with the admin role) manage a workspace's users. */
const config = { role: 'admin' as const }
const tagged = documented('users')
const doc = <S extends Parameters<typeof tagged>[1]>(summary: string, schema: S) => ({
  config,
  ...tagged(summary, {
    description: 'Admins only (an admin key, or a user with the admin role).',
    querystring: NO_QUERY,
    ...schema,
  }),
})
const EMAIL = pathParams({ email: "the user's email address (matched case-insensitively)" })

/**
 * `/api/users`: the workspace's users and their roles. `PUT /api/users/:email {role}` invites
 * (a new user gets a one-time set-password link in the answer) or changes a role; DELETE
 * takes the user's role here away and ends their sessions here.
 */
export async function userRoutes(app: FastifyInstance, users: UserService): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get(
    '/users',
    doc("The workspace's users and their roles", {
      response: { 200: answer(itemsOf(ref('User'))), ...adminErrors() },
    }),
    async (req) => ({ items: await users.listWorkspace(req.workspaceId) }),
  )

  api.get(
    '/users/:email',
    doc('A user of the workspace', {
      params: EMAIL,
      response: { 200: answer(ref('User')), ...adminErrors() },
    }),
    async (req) => users.get(req.params.email, req.workspaceId),
  )

  const invited = Type.Intersect([
    ref('User'),
    Type.Object({
      setPasswordUrl: Type.String({ format: 'uri', description: 'one-time, valid 24 h' }),
      linkExpiresAt: Type.String({ format: 'date-time' }),
    }),
  ])
  api.put(
    '/users/:email',
    doc(
      'Invite (a new user: 201 with a one-time set-password link, valid 24 h) or change the role',
      {
        params: EMAIL,
        documentedBody: Type.Object({
          role: OneOf(['viewer', 'editor', 'admin']),
        }),
        response: {
          200: answer(ref('User')),
          201: answer(invited, 'Created'),
          ...adminErrors(),
        },
      },
    ),
    async (req, reply) => {
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
    },
  )

  api.delete(
    '/users/:email',
    doc("Take the user's role here away; their sessions here end", {
      params: EMAIL,
      response: { 204: { description: 'Removed', type: 'null' }, ...adminErrors() },
    }),
    async (req, reply) => {
      await users.remove(req.params.email, req.workspaceId, req.actor)
      return reply.status(204).send()
    },
  )
}
