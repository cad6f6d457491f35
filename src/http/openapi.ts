/**
 * The OpenAPI 3.1 description of segflow's HTTP API, served at /openapi.json. A test checks
 * that it names exactly the routes the app registers, so it cannot drift from them.
 */

import { TRENDS_QUERY } from './dashboard-routes.js'
import { AUDIT_QUERY } from './audit-routes.js'
import { REQUESTS_QUERY } from './privacy-routes.js'
import { EVENTS_QUERY, SEARCH_QUERY } from './profile-routes.js'
import { openApiQuery } from './query-schema.js'
import { HISTORY_QUERY, MEMBERS_QUERY } from './segment-routes.js'
import { DELIVERIES_QUERY } from './webhook-routes.js'

type Json = Record<string, unknown>

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const json = (schema: Json, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
})
const errors = {
  '400': json(ref('Error'), 'The request is not valid; `error.code` says why'),
  '401': json(ref('Error'), 'No key, or an unknown or revoked one'),
  '403': json(
    ref('Error'),
    'The wrong kind of key; for a session, a missing csrf token (`csrf_failed`) or a role that may not (`forbidden`)',
  ),
  '404': json(ref('Error'), 'Not found in this workspace'),
}
/** The profile routes: an identifier of an erased person. */
const erased = {
  '409': json(ref('Error'), 'The id belongs to an erased person (`error.code` suppressed)'),
}
const body = (schema: Json) => ({ required: true, content: { 'application/json': { schema } } })
const pathParam = (name: string, description: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description,
})
const query = (name: string, description: string, type = 'string') => ({
  name,
  in: 'query',
  required: false,
  schema: { type },
  description,
})

const message = {
  type: 'object',
  description: 'A Segment message (track, identify, page, screen, group, alias)',
  additionalProperties: true,
  properties: {
    type: { type: 'string', enum: ['track', 'identify', 'page', 'screen', 'group', 'alias'] },
    userId: { type: 'string' },
    anonymousId: { type: 'string' },
    messageId: { type: 'string' },
    event: { type: 'string' },
    name: { type: 'string' },
    properties: { type: 'object' },
    traits: { type: 'object' },
    context: { type: 'object' },
    timestamp: { type: 'string', format: 'date-time' },
    sentAt: { type: 'string', format: 'date-time' },
  },
}

const tracking = (summary: string) => ({
  post: {
    summary,
    tags: ['tracking'],
    security: [{ writeKey: [] }, {}],
    requestBody: body(message),
    responses: {
      '200': json({ type: 'object', properties: { success: { type: 'boolean' } } }),
      '413': json(ref('Error'), 'Over 32 KB'),
      ...errors,
    },
  },
})

const batch = {
  post: {
    summary:
      'Several messages at once (up to 2,500 and 500 KB); good ones are stored, bad ones named',
    tags: ['tracking'],
    security: [{ writeKey: [] }, {}],
    requestBody: body({
      type: 'object',
      required: ['batch'],
      properties: {
        batch: { type: 'array', items: message },
        sentAt: { type: 'string' },
        context: { type: 'object' },
      },
    }),
    responses: {
      '200': json({
        type: 'object',
        properties: {
          success: { type: 'boolean' },
          accepted: { type: 'integer' },
          duplicates: { type: 'integer' },
          rejected: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                index: { type: 'integer' },
                field: { type: 'string' },
                reason: { type: 'string' },
              },
            },
          },
        },
      }),
      '413': json(ref('Error'), 'Over 500 KB or 2,500 messages'),
      '429': json(ref('Error'), 'Queue full: retry after Retry-After seconds'),
      ...errors,
    },
  },
}

/** An admin key, or a logged-in user's session cookie (with `x-csrf-token` on changes). */
const admin = [{ adminKey: [] }, { session: [] }]

export function openApiDocument(): Json {
  const paths: Json = {}
  const short: Record<string, string> = {
    track: 't',
    identify: 'i',
    page: 'p',
    screen: 's',
    group: 'g',
    alias: 'a',
  }
  for (const [type, s] of Object.entries(short)) {
    paths[`/v1/${type}`] = tracking(`A ${type} message`)
    paths[`/v1/${s}`] = tracking(`A ${type} message (analytics.js short path)`)
  }
  paths['/v1/batch'] = batch
  paths['/v1/b'] = batch
  paths['/v1/import'] = batch
  paths['/v1/projects/{writeKey}/settings'] = {
    get: {
      summary: 'The settings analytics.js loads at start',
      tags: ['tracking'],
      parameters: [pathParam('writeKey', 'a write key')],
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  const profile = pathParam('id', 'userId, anonymousId, email or internal profile id')
  const segment = pathParam('key', 'segment key')
  paths['/api/profiles/{id}'] = {
    get: {
      summary: 'A profile',
      tags: ['profiles'],
      security: admin,
      parameters: [profile],
      responses: { '200': json(ref('Profile')), ...errors, ...erased },
    },
    post: {
      summary: 'Set traits (null removes one); an unknown id creates a profile',
      tags: ['profiles'],
      security: admin,
      parameters: [profile],
      requestBody: body({
        type: 'object',
        required: ['traits'],
        properties: { traits: { type: 'object' } },
      }),
      responses: {
        '200': json(ref('Profile')),
        '201': json(ref('Profile'), 'Created'),
        ...errors,
        ...erased,
      },
    },
    put: {
      summary: 'Replace all traits',
      tags: ['profiles'],
      security: admin,
      parameters: [profile],
      requestBody: body({
        type: 'object',
        required: ['traits'],
        properties: { traits: { type: 'object' } },
      }),
      responses: {
        '200': json(ref('Profile')),
        '201': json(ref('Profile'), 'Created'),
        ...errors,
        ...erased,
      },
    },
  }
  paths['/api/profiles/{id}/consent'] = {
    put: {
      summary: 'Record consent given or refused, by purpose, with optional evidence',
      tags: ['profiles'],
      security: admin,
      parameters: [profile],
      requestBody: body({
        type: 'object',
        properties: {
          email_marketing: {
            type: ['boolean', 'string'],
            enum: [true, false, 'granted', 'denied'],
          },
          analytics: { type: ['boolean', 'string'], enum: [true, false, 'granted', 'denied'] },
          personalization: {
            type: ['boolean', 'string'],
            enum: [true, false, 'granted', 'denied'],
          },
          sale_sharing: { type: ['boolean', 'string'], enum: [true, false, 'granted', 'denied'] },
          evidence: { type: 'object' },
        },
      }),
      responses: { '200': json(ref('Profile')), ...errors, ...erased },
    },
  }
  paths['/api/profiles'] = {
    get: {
      summary: 'People search: profiles whose userId, anonymousId, alias or email starts with q',
      tags: ['profiles'],
      security: admin,
      parameters: openApiQuery(SEARCH_QUERY),
      responses: {
        '200': json({
          type: 'object',
          properties: { items: { type: 'array', items: { type: 'object' } } },
        }),
        ...errors,
      },
    },
  }
  paths['/api/profiles/{id}/events'] = {
    get: {
      summary: "A profile's events, newest first",
      tags: ['profiles'],
      security: admin,
      parameters: [profile, ...openApiQuery(EVENTS_QUERY)],
      responses: { '200': json({ type: 'object' }), ...errors, ...erased },
    },
  }
  paths['/api/profiles/{id}/explain/{key}'] = {
    get: {
      summary: 'Why a profile is or is not in a segment, condition by condition',
      tags: ['segments'],
      security: admin,
      parameters: [profile, segment],
      responses: {
        '200': json({
          type: 'object',
          properties: {
            profile: { type: 'string' },
            segment: { type: 'string' },
            version: { type: 'integer' },
            member: { type: 'boolean' },
            since: { type: ['string', 'null'] },
            lastTransition: {
              type: ['object', 'null'],
              description:
                'the latest entry or exit: reason (event, import, time, …) and whether it was historical',
              properties: {
                id: { type: 'string' },
                type: { type: 'string', enum: ['segment.entered', 'segment.exited'] },
                at: { type: 'string' },
                reason: { type: 'string' },
                historical: { type: 'boolean' },
              },
            },
            explanation: { type: 'object' },
          },
        }),
        ...errors,
        ...erased,
      },
    },
  }
  paths['/api/segments'] = {
    get: {
      summary: 'Segments with their sizes',
      tags: ['segments'],
      security: admin,
      responses: {
        '200': json({
          type: 'object',
          properties: { items: { type: 'array', items: ref('Segment') } },
        }),
        ...errors,
      },
    },
  }
  paths['/api/segments/{key}'] = {
    get: {
      summary: 'A segment',
      tags: ['segments'],
      security: admin,
      parameters: [segment],
      responses: { '200': json(ref('Segment')), ...errors },
    },
    put: {
      summary: 'Create a segment or publish a new version (computed in the background)',
      tags: ['segments'],
      security: admin,
      parameters: [segment],
      requestBody: body({
        type: 'object',
        required: ['rule'],
        properties: {
          name: { type: 'string' },
          description: { type: 'string' },
          priority: { type: 'integer' },
          rule: { type: 'object' },
        },
      }),
      responses: { '200': json(ref('Segment')), '201': json(ref('Segment'), 'Created'), ...errors },
    },
    delete: {
      summary: 'Delete a segment: its members exit (reason deleted)',
      tags: ['segments'],
      security: admin,
      parameters: [segment],
      responses: {
        '200': json({ type: 'object' }),
        '409': json(ref('Error'), 'Other segments refer to it'),
        ...errors,
      },
    },
  }
  paths['/api/segments/preview'] = {
    post: {
      summary: 'How many people a rule matches now, and a sample',
      tags: ['segments'],
      security: admin,
      requestBody: body({
        type: 'object',
        required: ['rule'],
        properties: { rule: { type: 'object' } },
      }),
      responses: { '200': json(ref('Counted')), ...errors },
    },
  }
  paths['/api/segments/{key}/diff'] = {
    post: {
      summary: 'Who would enter and leave if this rule were published',
      tags: ['segments'],
      security: admin,
      parameters: [segment],
      requestBody: body({
        type: 'object',
        required: ['rule'],
        properties: { rule: { type: 'object' } },
      }),
      responses: {
        '200': json({
          type: 'object',
          properties: { entering: ref('Counted'), exiting: ref('Counted') },
        }),
        ...errors,
      },
    },
  }
  paths['/api/segments/{key}/members'] = {
    get: {
      summary:
        'Members in profile-id order, a page at a time (cursor); the whole list as CSV, streamed, with format=csv or Accept: text/csv; reachable=true: only those marketing email can reach',
      tags: ['segments'],
      security: admin,
      parameters: [segment, ...openApiQuery(MEMBERS_QUERY)],
      responses: {
        '200': {
          description: 'OK',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  items: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: {
                        id: { type: 'string' },
                        userId: { type: ['string', 'null'] },
                        email: { type: ['string', 'null'], description: 'the email trait' },
                        enteredAt: { type: 'string', format: 'date-time' },
                      },
                    },
                  },
                  nextCursor: {
                    type: ['string', 'null'],
                    description: 'pass as cursor for the next page; null on the last',
                  },
                },
              },
            },
            'text/csv': {
              schema: {
                type: 'string',
                description: 'header id,user_id,email,entered_at, then one row per member',
              },
            },
          },
        },
        ...errors,
      },
    },
  }
  paths['/api/segments/{key}/history'] = {
    get: {
      summary: 'Entered and exited per UTC day',
      tags: ['segments'],
      security: admin,
      parameters: [segment, ...openApiQuery(HISTORY_QUERY)],
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  paths['/api/segments/{key}/sizes'] = {
    get: {
      summary: 'Exact size at the end of each hour or UTC day, with entered and exited',
      tags: ['segments'],
      security: admin,
      parameters: [
        segment,
        query('from', 'ISO-8601 instant; default: 30 steps back'),
        query('to', 'ISO-8601 instant; default: now'),
        query('step', 'hour or day (default)'),
      ],
      responses: {
        '200': json({
          type: 'object',
          properties: {
            segment: { type: 'string' },
            step: { type: 'string', enum: ['hour', 'day'] },
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
            createdAt: { type: 'string', format: 'date-time' },
            points: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  start: { type: 'string', format: 'date-time' },
                  end: { type: 'string', format: 'date-time' },
                  size: { type: 'integer', description: 'members at `end`' },
                  entered: { type: 'integer' },
                  exited: { type: 'integer' },
                  partial: { type: 'boolean' },
                },
              },
            },
            current: {
              type: 'object',
              properties: {
                at: { type: 'string', format: 'date-time' },
                size: { type: 'integer' },
                reachable: { type: 'integer' },
              },
            },
          },
        }),
        ...errors,
      },
    },
  }
  const hook = pathParam('id', 'webhook id')
  const webhookBody = body({
    type: 'object',
    required: ['url'],
    properties: {
      url: { type: 'string' },
      secret: { type: 'string', description: 'whsec_…; a new one is rotated in' },
      segments: { type: 'array', items: { type: 'string' } },
      types: {
        type: 'array',
        items: { type: 'string', enum: ['segment.entered', 'segment.exited'] },
      },
      maxInFlight: { type: 'integer' },
      history: {
        type: 'string',
        enum: ['send', 'skip'],
        description:
          'historical transitions (imports, and messages or timers processed more than SEGFLOW_HISTORY_AFTER late): send (default, flagged data.historical) or skip',
      },
    },
  })
  paths['/api/webhooks'] = {
    get: {
      summary: 'Webhook endpoints',
      tags: ['webhooks'],
      security: admin,
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  paths['/api/webhooks/{id}'] = {
    get: {
      summary: 'A webhook endpoint',
      tags: ['webhooks'],
      security: admin,
      parameters: [hook],
      responses: { '200': json(ref('Webhook')), ...errors },
    },
    put: {
      summary: 'Create or replace an endpoint (the answer holds its secret); saving re-enables it',
      tags: ['webhooks'],
      security: admin,
      parameters: [hook],
      requestBody: webhookBody,
      responses: { '200': json(ref('Webhook')), '201': json(ref('Webhook'), 'Created'), ...errors },
    },
    delete: {
      summary: 'Delete an endpoint; pending deliveries are cancelled',
      tags: ['webhooks'],
      security: admin,
      parameters: [hook],
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  paths['/api/webhooks/{id}/rotate'] = {
    post: {
      summary: 'A new secret; the old one keeps signing for the overlap (24h)',
      tags: ['webhooks'],
      security: admin,
      parameters: [hook],
      responses: { '200': json(ref('Webhook')), ...errors },
    },
  }
  paths['/api/webhooks/{id}/deliveries'] = {
    get: {
      summary: 'Deliveries with their attempts',
      tags: ['webhooks'],
      security: admin,
      parameters: [hook, ...openApiQuery(DELIVERIES_QUERY)],
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  paths['/api/webhooks/{id}/replay'] = {
    post: {
      summary:
        'Send failed and exhausted deliveries again, with the same ids, and make pending ones waiting for a retry due now',
      tags: ['webhooks'],
      security: admin,
      parameters: [hook],
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  const tpl = pathParam('key', 'template key')
  const templateBody = body({
    type: 'object',
    required: ['subject', 'html'],
    properties: {
      subject: { type: 'string', description: 'Liquid' },
      html: { type: 'string', description: 'Liquid; values are HTML-escaped unless `| raw`' },
      text: { type: ['string', 'null'], description: 'Liquid; the plain-text part' },
    },
  })
  paths['/api/templates'] = {
    get: {
      summary: 'Email templates',
      tags: ['email'],
      security: admin,
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  paths['/api/templates/{key}'] = {
    get: {
      summary: 'A template, with lint warnings',
      tags: ['email'],
      security: admin,
      parameters: [tpl],
      responses: { '200': json(ref('Template')), ...errors },
    },
    put: {
      summary: 'Create or replace a template; syntax errors are refused with line and column',
      tags: ['email'],
      security: admin,
      parameters: [tpl],
      requestBody: templateBody,
      responses: {
        '200': json(ref('Template')),
        '201': json(ref('Template'), 'Created'),
        ...errors,
      },
    },
    delete: {
      summary: 'Delete a template (refused while an automation sends it)',
      tags: ['email'],
      security: admin,
      parameters: [tpl],
      responses: {
        '200': json({ type: 'object' }),
        '409': json(ref('Error'), 'In use'),
        ...errors,
      },
    },
  }
  paths['/api/templates/{key}/preview'] = {
    post: {
      summary:
        'Render for one profile ({"profile": "…"}), or for a sample member of every segment ({}): a QA matrix',
      tags: ['email'],
      security: admin,
      parameters: [tpl],
      requestBody: body({ type: 'object', properties: { profile: { type: 'string' } } }),
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  paths['/api/templates/{key}/send'] = {
    post: {
      summary: 'Send the template to one person now',
      tags: ['email'],
      security: admin,
      parameters: [tpl],
      requestBody: body({
        type: 'object',
        required: ['profile'],
        properties: {
          profile: { type: 'string' },
          category: { type: 'string', enum: ['transactional', 'marketing'] },
          idempotencyKey: { type: 'string' },
        },
      }),
      responses: {
        '200': json({ type: 'object' }),
        '502': json(ref('Error'), 'The SMTP server refused or failed'),
        ...errors,
      },
    },
  }
  paths['/api/email/settings'] = {
    get: {
      summary: 'From address, frequency caps and consent rule',
      tags: ['email'],
      security: admin,
      responses: { '200': json(ref('EmailSettings')), ...errors },
    },
    put: {
      summary: 'Set the From address, frequency caps and consent rule',
      tags: ['email'],
      security: admin,
      requestBody: body(ref('EmailSettings')),
      responses: { '200': json(ref('EmailSettings')), ...errors },
    },
  }
  const person = pathParam('id', 'profile id, userId, anonymousId or email')
  paths['/api/email/status/{id}'] = {
    get: {
      summary: 'Subscription status: subscribed, unsubscribed or bounced',
      tags: ['email'],
      security: admin,
      parameters: [person],
      responses: { '200': json({ type: 'object' }), ...errors },
    },
    put: {
      summary: 'Subscribe or unsubscribe a person',
      tags: ['email'],
      security: admin,
      parameters: [person],
      requestBody: body({
        type: 'object',
        required: ['status'],
        properties: {
          status: { type: 'string', enum: ['subscribed', 'unsubscribed'] },
          reason: { type: 'string' },
        },
      }),
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  paths['/api/email/sends'] = {
    get: {
      summary: 'Emails sent, newest first',
      tags: ['email'],
      security: admin,
      parameters: [query('profile', 'only to this person'), query('limit', '1–1000', 'integer')],
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  const auto = pathParam('key', 'automation key')
  paths['/api/automations'] = {
    get: {
      summary: 'Automations',
      tags: ['automations'],
      security: admin,
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  paths['/api/automations/{key}'] = {
    get: {
      summary: 'An automation',
      tags: ['automations'],
      security: admin,
      parameters: [auto],
      responses: { '200': json(ref('Automation')), ...errors },
    },
    put: {
      summary: 'Create or replace an automation; it acts on transitions from now on',
      tags: ['automations'],
      security: admin,
      parameters: [auto],
      requestBody: body(ref('Automation')),
      responses: {
        '200': json(ref('Automation')),
        '201': json(ref('Automation'), 'Created'),
        ...errors,
      },
    },
    delete: {
      summary: 'Delete an automation; its scheduled runs are skipped',
      tags: ['automations'],
      security: admin,
      parameters: [auto],
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  paths['/api/automations/{key}/runs'] = {
    get: {
      summary:
        'Runs, oldest first, a page at a time ({items, nextCursor}): one per transition, with the step reached and what each action did',
      tags: ['automations'],
      security: admin,
      parameters: [
        auto,
        query('limit', '1–1000, default 100', 'integer'),
        query('cursor', 'nextCursor from a previous page'),
      ],
      responses: {
        '200': json({
          type: 'object',
          properties: {
            items: { type: 'array', items: { type: 'object' } },
            nextCursor: { type: ['string', 'null'], description: 'null on the last page' },
          },
        }),
        ...errors,
      },
    },
  }
  const model = pathParam('key', 'scoring model key')
  paths['/api/scores'] = {
    get: {
      summary: 'Scoring models',
      tags: ['scores'],
      security: admin,
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  paths['/api/scores/presets'] = {
    get: {
      summary: 'Preset models (engagement)',
      tags: ['scores'],
      security: admin,
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  paths['/api/scores/{key}'] = {
    get: {
      summary: 'A scoring model',
      tags: ['scores'],
      security: admin,
      parameters: [model],
      responses: { '200': json(ref('ScoreModel')), ...errors },
    },
    put: {
      summary: 'Create or change a model; segments using it get a new version',
      tags: ['scores'],
      security: admin,
      parameters: [model],
      requestBody: body(ref('ScoreModel')),
      responses: {
        '200': json(ref('ScoreModel')),
        '201': json(ref('ScoreModel'), 'Created'),
        ...errors,
      },
    },
    delete: {
      summary: 'Delete a model no segment uses',
      tags: ['scores'],
      security: admin,
      parameters: [model],
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  paths['/api/profiles/{id}/scores/{key}'] = {
    get: {
      summary: "A person's score, criterion by criterion",
      tags: ['scores'],
      security: admin,
      parameters: [person, model],
      responses: { '200': json({ type: 'object' }), ...errors, ...erased },
    },
  }
  const privacyRequest = {
    type: 'object',
    properties: {
      id: { type: 'string' },
      type: { type: 'string', enum: ['export', 'erasure'] },
      regulation: { type: 'string', enum: ['gdpr', 'ccpa'] },
      status: { type: 'string', enum: ['received', 'completed', 'failed'] },
      receivedAt: { type: 'string', format: 'date-time' },
      dueAt: {
        type: 'string',
        format: 'date-time',
        description: 'one month after receipt (GDPR) or 45 days (CCPA)',
      },
      completedAt: { type: ['string', 'null'], format: 'date-time' },
      result: { description: 'rows by table; for erasure also the notifications sent' },
    },
  }
  paths['/api/privacy/requests'] = {
    post: {
      summary: 'Export everything held about a person, or erase them (answered at once)',
      tags: ['privacy'],
      security: admin,
      requestBody: body({
        type: 'object',
        required: ['type', 'profile'],
        properties: {
          type: { type: 'string', enum: ['export', 'erasure'] },
          profile: { type: 'string', description: 'userId, anonymousId, email or profile id' },
          regulation: { type: 'string', enum: ['gdpr', 'ccpa'], default: 'gdpr' },
        },
      }),
      responses: {
        '201': json(
          {
            type: 'object',
            properties: {
              request: privacyRequest,
              data: { type: 'object', description: 'export only: every row about the person' },
            },
          },
          'Done',
        ),
        ...errors,
      },
    },
    get: {
      summary: 'Rights requests, newest first',
      tags: ['privacy'],
      security: admin,
      parameters: openApiQuery(REQUESTS_QUERY),
      responses: {
        '200': json({
          type: 'object',
          properties: { items: { type: 'array', items: privacyRequest } },
        }),
        ...errors,
      },
    },
  }
  paths['/api/privacy/requests/{id}'] = {
    get: {
      summary: 'One rights request: its status, due date and result',
      tags: ['privacy'],
      security: admin,
      parameters: [pathParam('id', 'request id')],
      responses: { '200': json(privacyRequest), ...errors },
    },
  }
  const fieldSpecs = {
    type: 'object',
    additionalProperties: {
      type: 'object',
      properties: {
        type: { type: 'string', enum: ['string', 'number', 'boolean', 'object', 'array', 'any'] },
        pii: { type: 'boolean', description: 'masked in logs' },
      },
    },
  }
  const dataSchema = {
    type: 'object',
    required: ['mode'],
    properties: {
      mode: {
        type: 'string',
        enum: ['allow', 'drop', 'reject'],
        description:
          'allow: keep everything; drop: drop fields outside the schema (counted); reject: refuse messages with them (400 naming the field)',
      },
      traits: fieldSpecs,
      events: {
        type: 'object',
        description: 'by event name; * for every event, page and screen',
        additionalProperties: { type: 'object', properties: { properties: fieldSpecs } },
      },
    },
  }
  const schemaView = {
    ...dataSchema,
    properties: {
      ...dataSchema.properties,
      updatedAt: { type: ['string', 'null'], format: 'date-time' },
      dropped: {
        type: 'object',
        description: 'fields dropped since the process started, e.g. {"traits.coupon": 3}',
        additionalProperties: { type: 'integer' },
      },
    },
  }
  paths['/api/schema'] = {
    get: {
      summary: "The workspace's data schema and the fields it dropped",
      tags: ['privacy'],
      security: admin,
      responses: { '200': json(schemaView), ...errors },
    },
    put: {
      summary: 'Set what the workspace collects (data minimisation)',
      tags: ['privacy'],
      security: admin,
      requestBody: body(dataSchema),
      responses: { '200': json(schemaView), ...errors },
    },
    delete: {
      summary: 'Collect everything again (mode allow, no fields)',
      tags: ['privacy'],
      security: admin,
      responses: { '200': json(schemaView), ...errors },
    },
  }
  paths['/api/audit'] = {
    get: {
      summary:
        'The audit log, newest first: every change through the admin API, bulk reads of members, key changes, exports and erasures',
      tags: ['privacy'],
      security: admin,
      parameters: openApiQuery(AUDIT_QUERY),
      responses: {
        '200': json({
          type: 'object',
          properties: {
            items: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  id: { type: 'string' },
                  at: { type: 'string', format: 'date-time' },
                  actor: {
                    type: 'string',
                    description: 'admin key id, user:<email>, cli or bootstrap',
                  },
                  action: { type: 'string' },
                  target: { type: ['string', 'null'] },
                  status: { type: 'integer' },
                },
              },
            },
            next: { type: ['string', 'null'] },
          },
        }),
        ...errors,
      },
    },
  }
  paths['/api/lifecycle'] = {
    get: {
      summary: 'Lifecycle stages (or the defaults, when not enabled)',
      tags: ['lifecycle'],
      security: admin,
      responses: { '200': json({ type: 'object' }), ...errors },
    },
    put: {
      summary: 'Set the ordered stages (first match wins); {"preset": "default"} for the defaults',
      tags: ['lifecycle'],
      security: admin,
      requestBody: body(ref('Lifecycle')),
      responses: { '200': json({ type: 'object' }), ...errors },
    },
    delete: {
      summary: 'Turn lifecycle stages off (their segments are deleted)',
      tags: ['lifecycle'],
      security: admin,
      responses: { '200': json({ type: 'object' }), ...errors },
    },
  }
  paths['/api/profiles/{id}/lifecycle'] = {
    get: {
      summary: "A person's stage, and each stage's explanation",
      tags: ['lifecycle'],
      security: admin,
      parameters: [person],
      responses: { '200': json({ type: 'object' }), ...errors, ...erased },
    },
  }
  const email = pathParam('email', "the user's email address (matched case-insensitively)")
  const adminOnly = 'Admins only (an admin key, or a user with the admin role).'
  paths['/api/users'] = {
    get: {
      summary: "The workspace's users and their roles",
      description: adminOnly,
      tags: ['users'],
      security: admin,
      responses: {
        '200': json({
          type: 'object',
          properties: { items: { type: 'array', items: ref('User') } },
        }),
        ...errors,
      },
    },
  }
  paths['/api/users/{email}'] = {
    get: {
      summary: 'A user of the workspace',
      description: adminOnly,
      tags: ['users'],
      security: admin,
      parameters: [email],
      responses: { '200': json(ref('User')), ...errors },
    },
    put: {
      summary:
        'Invite (a new user: 201 with a one-time set-password link, valid 24 h) or change the role',
      description: adminOnly,
      tags: ['users'],
      security: admin,
      parameters: [email],
      requestBody: body({
        type: 'object',
        required: ['role'],
        properties: { role: { type: 'string', enum: ['viewer', 'editor', 'admin'] } },
      }),
      responses: {
        '200': json(ref('User')),
        '201': json(
          {
            allOf: [
              ref('User'),
              {
                type: 'object',
                properties: {
                  setPasswordUrl: { type: 'string', format: 'uri' },
                  linkExpiresAt: { type: 'string', format: 'date-time' },
                },
              },
            ],
          },
          'Created',
        ),
        ...errors,
      },
    },
    delete: {
      summary: "Take the user's role here away; their sessions here end",
      description: adminOnly,
      tags: ['users'],
      security: admin,
      parameters: [email],
      responses: { '204': { description: 'Removed' }, ...errors },
    },
  }
  const credentials = {
    type: 'object',
    required: ['email', 'password'],
    properties: {
      email: { type: 'string' },
      password: { type: 'string' },
      workspace: { type: 'string', description: 'needed when the user is in several' },
    },
  }
  const sessionAnswer = json(ref('Session'))
  paths['/auth/set-password'] = {
    post: {
      summary: 'Set a password with the token of a one-time set-password link',
      tags: ['users'],
      security: [{}],
      requestBody: body({
        type: 'object',
        required: ['token', 'password'],
        properties: {
          token: { type: 'string' },
          password: { type: 'string', minLength: 12, maxLength: 1024 },
        },
      }),
      responses: {
        '200': json({
          type: 'object',
          properties: { user: { type: 'object', properties: { email: { type: 'string' } } } },
        }),
        '400': json(
          ref('Error'),
          'A short password, or a link unknown, used or expired (`invalid_token`)',
        ),
      },
    },
  }
  paths['/auth/login'] = {
    post: {
      summary:
        'Log in: sets the segflow_session cookie (HttpOnly, SameSite=Strict, Secure under HTTPS)',
      tags: ['users'],
      security: [{}],
      requestBody: body(credentials),
      responses: {
        '200': {
          ...sessionAnswer,
          headers: {
            'Set-Cookie': { schema: { type: 'string' }, description: 'segflow_session=…' },
          },
        },
        '400': json(ref('Error'), 'A missing field, or a workspace to choose'),
        '401': json(
          ref('Error'),
          'The email or the password is wrong (`invalid_credentials`, the same for both)',
        ),
        '403': json(ref('Error'), 'A disabled user, or no role in that workspace'),
        '429': json(ref('Error'), 'Too many attempts for the email or address; see Retry-After'),
      },
    },
  }
  paths['/auth/logout'] = {
    post: {
      summary: 'Log out (with the session, x-csrf-token is needed); clears the cookie',
      tags: ['users'],
      security: [{ session: [] }, {}],
      responses: {
        '204': { description: 'Logged out' },
        '403': json(ref('Error'), 'No or a wrong x-csrf-token (`csrf_failed`)'),
      },
    },
  }
  paths['/auth/session'] = {
    get: {
      summary: 'Who is logged in, with the csrf token for changes',
      tags: ['users'],
      security: [{ session: [] }],
      responses: {
        '200': sessionAnswer,
        '401': json(ref('Error'), 'No session, or it expired (`invalid_session`)'),
      },
    },
  }
  const token = pathParam('token', 'signed by segflow')
  const html = { description: 'A page', content: { 'text/html': { schema: { type: 'string' } } } }
  paths['/e/o/{token}'] = {
    get: {
      summary: 'Open pixel: records Email Opened',
      tags: ['email links'],
      parameters: [token],
      responses: {
        '200': {
          description: 'A 1×1 GIF',
          content: { 'image/gif': { schema: { type: 'string' } } },
        },
      },
    },
  }
  paths['/e/c/{token}'] = {
    get: {
      summary: 'Click redirect: records Email Clicked, then redirects to the signed URL',
      tags: ['email links'],
      parameters: [token, query('u', 'the destination (must match the signature)')],
      responses: { '302': { description: 'To the link' }, '404': html },
    },
  }
  paths['/e/u/{token}'] = {
    get: {
      summary: 'Unsubscribe page (asks; link scanners do not unsubscribe anyone)',
      tags: ['email links'],
      parameters: [token],
      responses: { '200': html, '404': html },
    },
    post: {
      summary: 'Unsubscribe: the page form or one-click (RFC 8058, List-Unsubscribe-Post)',
      tags: ['email links'],
      parameters: [token],
      responses: { '200': html, '404': html },
    },
  }
  const health = {
    type: 'object',
    properties: {
      status: { type: 'string', enum: ['ok', 'unavailable'] },
      store: { type: 'string', enum: ['sqlite', 'postgres'] },
      database: { type: 'string', enum: ['up', 'down'] },
      schemaVersion: { type: 'integer' },
      error: { type: 'string' },
    },
  }
  for (const [path, summary] of [
    ['/healthz', 'Health: the store answers (same as /readyz)'],
    ['/readyz', 'Readiness: the store answers, requests can be served'],
  ] as const) {
    paths[path] = {
      get: {
        summary,
        tags: ['system'],
        responses: {
          '200': json(health),
          '503': json(health, 'The database is unavailable (Retry-After: 1)'),
        },
      },
    }
  }
  paths['/livez'] = {
    get: {
      summary: 'Liveness: the process runs (does not depend on the database)',
      tags: ['system'],
      responses: { '200': json({ type: 'object', properties: { status: { type: 'string' } } }) },
    },
  }
  paths['/api/overview'] = {
    get: {
      summary:
        'The workspace in numbers: profiles, reachable profiles, segments, and messages stored in the current minute and the 59 before it',
      tags: ['dashboard'],
      security: admin,
      responses: {
        '200': json({
          type: 'object',
          properties: {
            profiles: { type: 'integer' },
            reachable: { type: 'integer' },
            segments: { type: 'integer' },
            eventsLastHour: { type: 'integer' },
            at: { type: 'string', format: 'date-time' },
          },
        }),
        ...errors,
      },
    },
  }
  paths['/api/segment-trends'] = {
    get: {
      summary:
        "Every segment's size at the current hour's start on each of the last `days` days, and now (sparklines)",
      tags: ['dashboard'],
      security: admin,
      parameters: openApiQuery(TRENDS_QUERY),
      responses: {
        '200': json({
          type: 'object',
          properties: {
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
            items: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  key: { type: 'string' },
                  sizes: { type: 'array', items: { type: 'integer' } },
                  change: { type: 'integer' },
                },
              },
            },
          },
        }),
        ...errors,
      },
    },
  }
  paths['/api/stream'] = {
    get: {
      summary:
        'Transitions as they are committed, as server-sent events: `ready` once listening, then `transition` (data: segment, profileId, userId, anonymousId, kind entered|exited, at, reason, historical) and `skipped` after a burst too large to show',
      tags: ['dashboard'],
      security: admin,
      responses: {
        '200': {
          description: 'An event stream',
          content: { 'text/event-stream': { schema: { type: 'string' } } },
        },
        ...errors,
      },
    },
  }
  paths['/metrics'] = {
    get: {
      summary: 'Prometheus metrics',
      tags: ['system'],
      responses: {
        '200': { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } },
      },
    },
  }
  paths['/openapi.json'] = {
    get: {
      summary: 'This document',
      tags: ['system'],
      responses: { '200': json({ type: 'object' }) },
    },
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'segflow',
      version: '0.1.0',
      description: 'Real-time dynamic segmentation for email marketing',
    },
    paths,
    components: {
      securitySchemes: {
        writeKey: {
          type: 'http',
          scheme: 'basic',
          description: 'The write key as the username, no password (or writeKey in the body)',
        },
        adminKey: { type: 'http', scheme: 'bearer', description: 'An admin key' },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'segflow_session',
          description:
            'The session cookie of POST /auth/login; state-changing requests also send the x-csrf-token header',
        },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' } },
            },
          },
        },
        Profile: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            userId: { type: ['string', 'null'] },
            anonymousIds: { type: 'array', items: { type: 'string' } },
            emails: { type: 'array', items: { type: 'string' } },
            traits: { type: 'object' },
            firstSeen: { type: ['string', 'null'] },
            lastSeen: { type: ['string', 'null'] },
            segments: { type: 'array', items: { type: 'object' } },
            emailStatus: { type: 'string', enum: ['subscribed', 'unsubscribed', 'bounced'] },
            consent: {
              type: 'object',
              description:
                'by purpose (email_marketing, analytics, personalization, sale_sharing); null where nothing was said',
              additionalProperties: {
                type: ['object', 'null'],
                properties: {
                  state: { type: 'string', enum: ['granted', 'denied'] },
                  at: { type: 'string', format: 'date-time' },
                  source: { type: 'string', enum: ['api', 'event', 'context', 'gpc'] },
                  evidence: { type: 'object' },
                  messageId: { type: ['string', 'null'] },
                },
              },
            },
            merges: { type: 'array', items: { type: 'object' } },
            scores: { type: 'object', additionalProperties: { type: 'number' } },
            computed: { type: ['object', 'null'] },
            lifecycle: { type: ['object', 'null'] },
          },
        },
        ScoreModel: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            description: { type: 'string' },
            halfLife: { type: 'string', description: 'e.g. "14d"; points halve at each' },
            criteria: { type: 'array', items: { type: 'object' } },
            preset: { type: 'string', enum: ['engagement'] },
          },
        },
        Lifecycle: {
          type: 'object',
          properties: {
            stages: { type: 'array', items: { type: 'object' } },
            preset: { type: 'string', enum: ['default'] },
          },
        },
        Segment: {
          type: 'object',
          properties: {
            key: { type: 'string' },
            name: { type: 'string' },
            version: { type: 'integer' },
            liveVersion: { type: ['integer', 'null'] },
            status: { type: 'string', enum: ['computing', 'live'] },
            progress: { type: ['object', 'null'] },
            size: { type: 'integer' },
            reachable: {
              type: 'integer',
              description:
                'members marketing email can reach: an address, subscribed, consent as the mode requires',
            },
            rule: { type: 'object' },
          },
        },
        Webhook: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            url: { type: 'string' },
            secret: { type: 'string' },
            segments: { type: ['array', 'null'] },
            types: { type: ['array', 'null'] },
            status: { type: 'string', enum: ['active', 'disabled'] },
            disabledReason: { type: ['string', 'null'] },
            maxInFlight: { type: 'integer' },
            history: { type: 'string', enum: ['send', 'skip'] },
          },
        },
        Template: {
          type: 'object',
          properties: {
            key: { type: 'string' },
            subject: { type: 'string' },
            html: { type: 'string' },
            text: { type: ['string', 'null'] },
            updatedAt: { type: 'string', format: 'date-time', readOnly: true },
            warnings: { type: 'array', items: { type: 'string' } },
          },
        },
        EmailSettings: {
          type: 'object',
          required: ['from'],
          properties: {
            from: { type: 'string', description: 'News <news@example.com>' },
            caps: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  category: { type: 'string', enum: ['marketing', 'transactional'] },
                  max: { type: 'integer' },
                  within: { type: 'string', description: 'a duration like 7d' },
                },
              },
            },
            consent: {
              type: 'object',
              description:
                'opt_in (default): marketing email only to people who granted email_marketing; opt_out: to everyone who has not refused it',
              properties: { mode: { type: 'string', enum: ['opt_in', 'opt_out'] } },
            },
          },
        },
        Automation: {
          type: 'object',
          required: ['trigger', 'actions'],
          properties: {
            name: { type: 'string' },
            enabled: { type: 'boolean' },
            trigger: {
              type: 'object',
              required: ['segment', 'on'],
              properties: {
                segment: { type: 'string' },
                on: { type: 'string', enum: ['entered', 'exited'] },
                delay: { type: ['string', 'null'], description: 'a duration like 2d' },
                history: {
                  type: 'string',
                  enum: ['skip', 'run'],
                  description:
                    'historical transitions (reason import, or messages or timers processed more than SEGFLOW_HISTORY_AFTER late): skip (default; the run is recorded as skipped) or run',
                },
              },
            },
            conditions: { type: ['object', 'null'], description: 'a rule, checked when it fires' },
            actions: {
              type: 'array',
              items: {
                type: 'object',
                required: ['type'],
                properties: {
                  type: {
                    type: 'string',
                    enum: [
                      'send_email',
                      'webhook',
                      'set_trait',
                      'unset_trait',
                      'add_tag',
                      'remove_tag',
                    ],
                  },
                  template: { type: 'string' },
                  category: { type: 'string', enum: ['marketing', 'transactional'] },
                  webhook: { type: 'string' },
                  trait: { type: 'string' },
                  value: {},
                  tag: { type: 'string' },
                },
              },
            },
          },
        },
        User: {
          type: 'object',
          properties: {
            email: { type: 'string' },
            role: { type: 'string', enum: ['viewer', 'editor', 'admin'] },
            passwordSet: { type: 'boolean' },
            disabled: { type: 'boolean' },
            createdAt: { type: 'string', format: 'date-time' },
          },
        },
        Session: {
          type: 'object',
          properties: {
            user: { type: 'object', properties: { email: { type: 'string' } } },
            workspace: { type: 'string' },
            role: { type: 'string', enum: ['viewer', 'editor', 'admin'] },
            csrfToken: { type: 'string', description: 'send it as x-csrf-token on changes' },
            expiresAt: {
              type: 'string',
              format: 'date-time',
              description: 'the absolute end (an idle session ends sooner)',
            },
            workspaces: { type: 'array', items: { type: 'string' } },
          },
        },
        Counted: {
          type: 'object',
          properties: {
            count: { type: 'integer' },
            sample: { type: 'array', items: { type: 'object' } },
          },
        },
      },
    },
  }
}
