import type { FastifyInstance } from 'fastify'
import type { SchemaService } from '../privacy/schema-service.js'

/** `/api/schema`: what the workspace collects (data minimisation), and what was dropped. */
export async function schemaRoutes(app: FastifyInstance, schemas: SchemaService): Promise<void> {
  app.get('/schema', async (req) => schemas.view(req.workspaceId))
  app.put('/schema', async (req) => schemas.put(req.workspaceId, req.body))
  app.delete('/schema', async (req) => schemas.remove(req.workspaceId))
}
