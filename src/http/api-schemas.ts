/**
 * The shapes the admin API answers with, declared once (TypeBox, i.e. JSON Schema) and shared
 * by the routes: `/openapi.json` is generated from the routes' schemas (openapi.ts), and the
 * OpenAPI test validates real answers against them.
 *
 * Response schemas describe, they do not filter: the app serialises answers with plain
 * `JSON.stringify` (see openapi.ts), so a field missing here is a documentation gap, never a
 * field silently dropped from an answer. Objects stay open (`additionalProperties` unset).
 */
import { Type } from '@sinclair/typebox'
import type { TObject, TProperties, TSchema } from '@sinclair/typebox'

/**
 * One of some strings: `{type: 'string', enum}` in the document (a union of literals would be
 * an `anyOf` of one-value enums).
 * @example
 * OneOf(['hour', 'day'], { description: 'the step' })
 */
export const OneOf = <const T extends readonly string[]>(
  values: T,
  options: { description?: string; default?: T[number] } = {},
) => Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options })

/** `T` or null. */
export const Nullable = <T extends TSchema>(t: T, description?: string) =>
  Type.Union([t, Type.Null()], description === undefined ? {} : { description })

const Instant = (description?: string) =>
  Type.String({ format: 'date-time', ...(description === undefined ? {} : { description }) })
const Str = (description?: string) => Type.String(description === undefined ? {} : { description })
/** Any JSON object. */
const Obj = (description?: string) =>
  Type.Object({}, description === undefined ? {} : { description })
const Role = OneOf(['viewer', 'editor', 'admin'])
const Transition = OneOf(['segment.entered', 'segment.exited'])

/**
 * A reference to a shared schema (becomes `#/components/schemas/<name>` in the document; the
 * lint fails on a name that is not one of COMPONENTS).
 */
export const ref = (name: string, description?: string): TSchema =>
  Type.Unsafe({ $ref: `${name}#`, ...(description === undefined ? {} : { description }) })

/** A shared schema, referenced from routes as `ref('Segment')`. */
const component = <P extends TProperties>(id: string, properties: P, description?: string) =>
  Type.Object(properties, { $id: id, ...(description === undefined ? {} : { description }) })

export const ErrorBody = component(
  'Error',
  {
    error: Type.Object(
      {
        code: Str('stable, e.g. invalid_request, not_found, missing_key, csrf_failed'),
        message: Str('what is wrong and, where it can, what would be right'),
        parameter: Type.Optional(Str('the query or path parameter at fault')),
        suggestion: Type.Optional(Str('the parameter probably meant')),
        issues: Type.Optional(
          Type.Array(
            Type.Object(
              {
                field: Type.Optional(Str('the field of the body at fault')),
                reason: Type.Optional(Str()),
                path: Type.Optional(Str('inside a rule: e.g. all[2].within')),
                message: Type.Optional(Str()),
              },
              { description: 'one problem: where (field, or path in a rule) and why' },
            ),
          ),
        ),
        rejected: Type.Optional(
          Type.Array(Type.Object({ index: Type.Integer(), field: Str(), reason: Str() }), {
            description: 'ingestion: the messages refused, by index in the batch',
          }),
        ),
      },
      { description: 'code and message, plus details that depend on the code' },
    ),
  },
  'Every error answer',
)

const ConsentEntry = Nullable(
  Type.Object({
    state: OneOf(['granted', 'denied']),
    at: Instant(),
    source: OneOf(['api', 'event', 'context', 'gpc']),
    evidence: Obj(),
    messageId: Nullable(Str()),
  }),
)

export const Profile = component('Profile', {
  id: Str('the internal profile id'),
  userId: Nullable(Str()),
  anonymousIds: Type.Array(Str()),
  emails: Type.Array(Str()),
  identities: Type.Array(Type.Object({ type: Str(), value: Str(), firstSeen: Instant() })),
  traits: Obj(),
  firstSeen: Nullable(Instant()),
  lastSeen: Nullable(Instant()),
  createdAt: Instant(),
  updatedAt: Instant(),
  merges: Type.Array(Type.Object({ from: Str(), reason: Str(), messageId: Str(), at: Instant() })),
  segments: Type.Array(Type.Object({ key: Str(), version: Type.Integer(), since: Instant() }), {
    description: 'the segments the profile is in now, and since when',
  }),
  emailStatus: OneOf(['subscribed', 'unsubscribed', 'bounced']),
  consent: Type.Object(
    {
      email_marketing: ConsentEntry,
      analytics: ConsentEntry,
      personalization: ConsentEntry,
      sale_sharing: ConsentEntry,
    },
    { description: 'by purpose; null where nothing was said' },
  ),
  scores: Type.Object({}, { additionalProperties: Type.Number(), description: 'by model' }),
  computed: Nullable(Obj('purchase count, revenue, account age, …')),
  lifecycle: Nullable(Obj('the stage, when lifecycle stages are enabled')),
})

/** Rules keep their own parser (rules/): paths like `rule.all[2].within`, "did you mean". */
export const Rule = component(
  'Rule',
  {},
  'A rule in the rule language, checked by its own parser (see README, "Rules"); e.g. {"event": "Viewed Pricing", "within": "7d"}',
)

export const Segment = component('Segment', {
  key: Str(),
  name: Str(),
  description: Str(),
  priority: Type.Integer(),
  version: Type.Integer(),
  liveVersion: Nullable(Type.Integer(), 'the version memberships reflect (lags while computing)'),
  status: OneOf(['computing', 'live']),
  progress: Nullable(Type.Object({ done: Type.Integer(), total: Type.Integer() })),
  size: Type.Integer(),
  reachable: Type.Integer({
    description:
      'members marketing email can reach: an address, subscribed, consent as the mode requires',
  }),
  rule: ref('Rule', 'the rule as written'),
  createdAt: Instant(),
  updatedAt: Instant(),
})

export const Member = component('Member', {
  id: Str(),
  userId: Nullable(Str()),
  email: Nullable(Str('the email trait')),
  enteredAt: Instant(),
})

export const Counted = component('Counted', {
  count: Type.Integer(),
  sample: Type.Array(Type.Object({ id: Str(), userId: Nullable(Str()) })),
})

export const Webhook = component('Webhook', {
  id: Str(),
  url: Str(),
  segments: Nullable(Type.Array(Str()), 'only these segments; null: all'),
  types: Nullable(Type.Array(Transition), 'only these transitions; null: both'),
  status: OneOf(['active', 'disabled']),
  disabledReason: Nullable(Str()),
  maxInFlight: Type.Integer(),
  history: OneOf(['send', 'skip']),
  secret: Type.Optional(Str('whsec_…; only in answers to PUT and rotate')),
  previousSecretsUntil: Type.Array(Instant(), {
    description: 'rotated-out secrets still signing, until when',
  }),
  createdAt: Instant(),
  updatedAt: Instant(),
})

export const Delivery = component('Delivery', {
  id: Str(),
  status: OneOf(['pending', 'succeeded', 'failed', 'exhausted', 'cancelled']),
  attempts: Type.Integer(),
  nextAttemptAt: Nullable(Instant()),
  lastStatus: Nullable(Type.Integer()),
  lastError: Nullable(Str()),
  payload: Obj('the Standard Webhooks payload sent'),
  history: Type.Array(
    Type.Object({
      attempt: Type.Integer(),
      at: Instant(),
      status: Nullable(Type.Integer()),
      error: Nullable(Str()),
      durationMs: Type.Number(),
    }),
  ),
})

export const Template = component('Template', {
  key: Str(),
  subject: Str('Liquid'),
  html: Str('Liquid; values are HTML-escaped unless `| raw`'),
  text: Nullable(Str('Liquid; the plain-text part')),
  updatedAt: Instant(),
  warnings: Type.Optional(Type.Array(Str())),
})

export const EmailSettings = component('EmailSettings', {
  from: Str('News <news@example.com>'),
  caps: Type.Optional(
    Type.Array(
      Type.Object({
        category: OneOf(['marketing', 'transactional']),
        max: Type.Integer(),
        within: Str('a duration like 7d'),
      }),
    ),
  ),
  consent: Type.Optional(
    Type.Object(
      { mode: OneOf(['opt_in', 'opt_out']) },
      {
        description:
          'opt_in (default): marketing email only to people who granted email_marketing; opt_out: to everyone who has not refused it',
      },
    ),
  ),
})

const Action = Type.Object({
  type: OneOf(['send_email', 'webhook', 'set_trait', 'unset_trait', 'add_tag', 'remove_tag']),
  template: Type.Optional(Str()),
  category: Type.Optional(OneOf(['marketing', 'transactional'])),
  webhook: Type.Optional(Str()),
  trait: Type.Optional(Str()),
  value: Type.Optional(Type.Unknown()),
  tag: Type.Optional(Str()),
})

const automationFields = {
  name: Type.Optional(Str()),
  enabled: Type.Optional(Type.Boolean()),
  trigger: Type.Object({
    segment: Str(),
    on: OneOf(['entered', 'exited']),
    delay: Type.Optional(Nullable(Str('a duration like 2d'))),
    history: Type.Optional(
      OneOf(['skip', 'run'], {
        description:
          'historical transitions (reason import, or messages or timers processed more than SEGFLOW_HISTORY_AFTER late): skip (default; the run is recorded as skipped) or run',
      }),
    ),
  }),
  conditions: Type.Optional(Nullable(Obj('a rule, checked when it fires'))),
  actions: Type.Array(Action),
}

/** What PUT /api/automations/:key takes (checked by the service, see automations.ts). */
export const AutomationInput = component('AutomationInput', automationFields)

export const Automation = component('Automation', {
  key: Str(),
  ...automationFields,
  createdAt: Instant(),
  updatedAt: Instant(),
})

export const Run = component('Run', {
  automation: Str(),
  transitionId: Str(),
  profileId: Str(),
  segment: Str(),
  type: Str(),
  status: Str(),
  dueAt: Instant(),
  step: Type.Integer({ description: 'the action reached' }),
  attempts: Type.Integer(),
  detail: Nullable(Str('what each action did')),
})

export const ScoreModel = component('ScoreModel', {
  key: Str(),
  name: Str(),
  description: Str(),
  halfLife: Nullable(Str('e.g. "14d"; points halve at each; null without decay')),
  criteria: Type.Array(
    Type.Object({
      name: Str(),
      kind: OneOf(['rule', 'event']),
      points: Type.Number(),
      cap: Nullable(Type.Number()),
    }),
  ),
  definition: Obj('the definition as written'),
  usedBy: Type.Array(Str(), { description: 'segments whose latest rule uses the model' }),
})

/** What PUT /api/scores/:key takes (checked by the service). */
export const ScoreModelInput = component('ScoreModelInput', {
  name: Type.Optional(Str()),
  description: Type.Optional(Str()),
  halfLife: Type.Optional(Str('e.g. "14d"; points halve at each')),
  criteria: Type.Optional(Type.Array(Obj())),
  preset: Type.Optional(Type.Literal('engagement')),
})

export const Lifecycle = component('Lifecycle', {
  enabled: Type.Boolean(),
  stages: Type.Array(Obj()),
  defaults: Type.Optional(Type.Array(Obj(), { description: 'when not enabled: the presets' })),
})

export const LifecycleInput = component('LifecycleInput', {
  stages: Type.Optional(Type.Array(Obj())),
  preset: Type.Optional(Type.Literal('default')),
})

export const User = component('User', {
  email: Str(),
  role: Type.Optional(Role),
  passwordSet: Type.Boolean({
    description: 'until then only their set-password link lets them in',
  }),
  disabled: Type.Boolean(),
  createdAt: Instant(),
})

export const Session = component('Session', {
  user: Type.Object({ email: Str() }),
  workspace: Str(),
  role: Role,
  csrfToken: Str('send it as x-csrf-token on changes'),
  expiresAt: Instant('the absolute end (an idle session ends sooner)'),
  workspaces: Type.Optional(Type.Array(Str())),
})

export const PrivacyRequest = component('PrivacyRequest', {
  id: Str(),
  type: OneOf(['export', 'erasure']),
  regulation: OneOf(['gdpr', 'ccpa']),
  status: OneOf(['received', 'completed', 'failed']),
  receivedAt: Instant(),
  dueAt: Instant('one month after receipt (GDPR) or 45 days (CCPA)'),
  completedAt: Nullable(Instant()),
  result: Type.Unknown({ description: 'rows by table; for erasure also the notifications sent' }),
})

export const AuditEntry = component('AuditEntry', {
  id: Str(),
  at: Instant(),
  actor: Str('admin key id, user:<email>, cli or bootstrap'),
  action: Str('METHOD /route'),
  target: Nullable(Str()),
  status: Type.Integer(),
})

const FieldSpecs = Type.Object(
  {},
  {
    additionalProperties: Type.Object({
      type: OneOf(['string', 'number', 'boolean', 'object', 'array', 'any']),
      pii: Type.Optional(Type.Boolean({ description: 'masked in logs' })),
    }),
  },
)

const dataSchemaFields = {
  mode: OneOf(['allow', 'drop', 'reject'], {
    description:
      'allow: keep everything; drop: drop fields outside the schema (counted); reject: refuse messages with them (400 naming the field)',
  }),
  traits: Type.Optional(FieldSpecs),
  events: Type.Optional(
    Type.Object(
      {},
      {
        description: 'by event name; * for every event, page and screen',
        additionalProperties: Type.Object({ properties: Type.Optional(FieldSpecs) }),
      },
    ),
  ),
}

export const DataSchema = component('DataSchema', dataSchemaFields)

export const DataSchemaView = component('DataSchemaView', {
  ...dataSchemaFields,
  updatedAt: Nullable(Instant()),
  dropped: Type.Object(
    {},
    {
      additionalProperties: Type.Integer(),
      description: 'fields dropped since the process started, e.g. {"traits.coupon": 3}',
    },
  ),
})

export const SegmentMessage = component(
  'SegmentMessage',
  {
    type: Type.Optional(OneOf(['track', 'identify', 'page', 'screen', 'group', 'alias'])),
    userId: Type.Optional(Str()),
    anonymousId: Type.Optional(Str()),
    messageId: Type.Optional(Str()),
    event: Type.Optional(Str()),
    name: Type.Optional(Str()),
    properties: Type.Optional(Obj()),
    traits: Type.Optional(Obj()),
    context: Type.Optional(Obj()),
    timestamp: Type.Optional(Instant()),
    sentAt: Type.Optional(Instant()),
    writeKey: Type.Optional(Str('instead of HTTP Basic (analytics.js)')),
  },
  'A Segment message (track, identify, page, screen, group, alias); checked by the ingestor',
)

export const Health = component('Health', {
  status: OneOf(['ok', 'unavailable']),
  store: OneOf(['sqlite', 'postgres']),
  database: OneOf(['up', 'down']),
  schemaVersion: Type.Optional(Type.Integer()),
  error: Type.Optional(Str()),
})

/** Every shared schema, registered on the app with `addSchema` (openapi.ts). */
export const COMPONENTS: readonly TObject[] = [
  ErrorBody,
  Rule,
  Profile,
  Segment,
  Member,
  Counted,
  Webhook,
  Delivery,
  Template,
  EmailSettings,
  AutomationInput,
  Automation,
  Run,
  ScoreModel,
  ScoreModelInput,
  Lifecycle,
  LifecycleInput,
  User,
  Session,
  PrivacyRequest,
  AuditEntry,
  DataSchema,
  DataSchemaView,
  SegmentMessage,
  Health,
]
