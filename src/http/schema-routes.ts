import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { SchemaService } from '../privacy/schema-service.js'
import { ref } from './api-schemas.js'
import { adminErrors, answer, documented, NO_QUERY } from './route-schemas.js'

const doc = documented('privacy')
const VIEW = { 200: answer(ref('DataSchemaView')), ...adminErrors() }

/** `/api/schema`: what the workspace collects (data minimisation), and what was dropped. */
export async function schemaRoutes(app: FastifyInstance, schemas: SchemaService): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get(
    '/schema',
    doc("The workspace's data schema and the fields it dropped", {
      querystring: NO_QUERY,
      response: VIEW,
    }),
    async (req) => schemas.view(req.workspaceId),
  )
  // What is collected about people is a privacy decision: admins only.
  const admin = { role: 'admin' as const }
  const adminOnly = 'Admins only (an admin key, or a user with the admin role).'
  api.put(
    '/schema',
    {
      config: admin,
      ...doc('Set what the workspace collects (data minimisation)', {
        description: adminOnly,
        querystring: NO_QUERY,
        // Checked by the schema service, which names the field at fault.
        documentedBody: ref('DataSchema'),
        response: VIEW,
      }),
    },
    async (req) => schemas.put(req.workspaceId, req.body),
  )
  api.delete(
    '/schema',
    {
      config: admin,
      ...doc('Collect everything again (mode allow, no fields)', {
        description: adminOnly,
        querystring: NO_QUERY,
        response: VIEW,
      }),
    },
    async (req) => schemas.remove(req.workspaceId),
  )
}
