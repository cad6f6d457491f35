import type { FastifyInstance } from 'fastify'
import type { SchemaService } from '../privacy/schema-service.js'

/** `/api/schema`: what the workspace collects (data minimisation), and what was dropped. */
export async function schemaRoutes(app: FastifyInstance, schemas: SchemaService): Promise<void> {
  app.get('/schema', async (req) => schemas.view(req.workspaceId))
  // What is collected about people is a privacy decision: admins only.
  const admin = { config: { role: 'admin' as const } }
  app.put('/schema', admin, async (req) => schemas.put(req.workspaceId, req.body))
  app.delete('/schema', admin, async (req) => schemas.remove(req.workspaceId))
}
