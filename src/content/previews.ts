import { setImmediate as yieldNow } from 'node:timers/promises'
import { emailAddressOf } from '../delivery/address.js'
import type { Insight } from '../engine/insights.js'
import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import type { MembershipRecord, Store } from '../store/store.js'
import { primarySegment, templateContext } from './context.js'
import { describeIssues, lintTemplate, parseTemplate } from './templates.js'
import type { Parsed, TemplateService, TemplateSource } from './templates.js'

export interface PreviewRow {
  /** The segment this row is for (matrix), or the person's own segment (one profile). */
  readonly segment: string | null
  readonly profile: { id: string; userId: string | null; email: string | null } | null
  /** `recipient.segment` of the person rendered for. */
  readonly recipientSegment: string | null
  readonly subject: string | null
  readonly html: string | null
  readonly text: string | null
  /** Why this row has no rendering (no members, a render error). */
  readonly error: string | null
}

export interface PreviewResult {
  readonly template: string
  readonly warnings: readonly string[]
  readonly previews: readonly PreviewRow[]
}

/** How many members of a segment are looked at to find one whose primary segment it is. */
const SCAN = 200
/** Profiles loaded (and rendered) per batch. */
const CHUNK = 100

/**
 * An unsaved template to preview (the editor's live render): checked as saving would check
 * it, so a syntax error is the same 400 with its field, line and column.
 */
function draftOf(draft: unknown): { template: TemplateSource; parsed: Parsed } {
  if (!isPlainObject(draft))
    throw new SegflowError(
      'invalid_body',
      'draft must be a JSON object like {"subject": "…", "html": "…", "text": "…"}',
    )
  for (const k of Object.keys(draft))
    if (!['subject', 'html', 'text'].includes(k))
      throw new SegflowError(
        'invalid_body',
        `unknown field draft.${k}; expected subject, html, text`,
      )
  if (typeof draft.subject !== 'string')
    throw new SegflowError('invalid_body', 'draft.subject must be text')
  if (typeof draft.html !== 'string')
    throw new SegflowError('invalid_body', 'draft.html must be text')
  if (draft.text !== undefined && draft.text !== null && typeof draft.text !== 'string')
    throw new SegflowError('invalid_body', 'draft.text must be text')
  const template = {
    subject: draft.subject,
    html: draft.html,
    text: typeof draft.text === 'string' ? draft.text : null,
  }
  const r = parseTemplate(template)
  if (!r.ok)
    throw new SegflowError(
      'invalid_template',
      `the template does not parse: ${describeIssues(r.issues)}`,
      { details: { issues: r.issues } },
    )
  return { template, parsed: r.parsed }
}

/** A row to render: the segment it is for (null: the person's own) and the person, if any. */
interface Pick {
  readonly segment: string | null
  readonly id: string | null
}

/**
 * Template previews: rendered for one profile, or a QA matrix with one row per segment,
 * rendered for a member whose `recipient.segment` is that segment (or any member when none
 * is), so every branch of a segment-dependent template can be checked before it is sent.
 * Links are not tracked and the unsubscribe link goes nowhere.
 *
 * A matrix over hundreds of segments reads in batches and yields to the event loop between
 * them (SQLite answers synchronously: a loop of reads would hold up every other request), and
 * renders in the render pool, a batch of rows per round trip.
 */
export class TemplatePreviews {
  constructor(
    private readonly store: Store,
    private readonly templates: TemplateService,
    private readonly clock: Clock,
    private readonly options: {
      readonly publicUrl: string
      readonly segments: (workspaceId: string) => readonly { key: string; priority: number }[]
      /** Scores, computed fields and lifecycle stage of people, for the template. */
      readonly insights?: (
        workspaceId: string,
        profileIds: readonly string[],
        memberships: ReadonlyMap<string, readonly MembershipRecord[]>,
      ) => Promise<ReadonlyMap<string, Insight>>
    },
  ) {}

  private priorities(workspaceId: string): Map<string, number> {
    return new Map(this.options.segments(workspaceId).map((s) => [s.key, s.priority]))
  }

  async preview(workspaceId: string, key: string, body: unknown): Promise<PreviewResult> {
    if (!isPlainObject(body))
      throw new SegflowError('invalid_body', 'body must be a JSON object: {} or {"profile": "…"}')
    for (const k of Object.keys(body)) {
      if (k !== 'profile' && k !== 'draft')
        throw new SegflowError(
          'invalid_body',
          `unknown field ${JSON.stringify(k)}; expected profile, draft`,
        )
    }
    if (body.profile !== undefined && (typeof body.profile !== 'string' || body.profile === ''))
      throw new SegflowError(
        'invalid_body',
        'profile must be a profile id, userId, anonymousId or email',
      )
    const { template, parsed } =
      body.draft === undefined ? await this.templates.load(workspaceId, key) : draftOf(body.draft)
    const priorities = this.priorities(workspaceId)
    const warnings = lintTemplate(template, parsed, new Set(priorities.keys()))
    if (typeof body.profile === 'string') {
      const id = await this.store.resolveProfileId(workspaceId, body.profile)
      if (id === null)
        throw new SegflowError(
          'profile_not_found',
          `no profile has the id, userId, anonymousId or email ${JSON.stringify(body.profile)}`,
        )
      const previews = await this.rows(workspaceId, template, [{ segment: null, id }], priorities)
      return { template: key, warnings, previews }
    }
    const segments = [...this.options.segments(workspaceId)].sort(
      (a, b) => b.priority - a.priority || a.key.localeCompare(b.key),
    )
    // The primary segment of each member looked at so far: segments share members.
    const primary = new Map<string, string | null>()
    const picks: Pick[] = []
    for (const s of segments) {
      await yieldNow()
      const ids = await this.store.listMembers(workspaceId, s.key, null, SCAN)
      const unseen = ids.filter((id) => !primary.has(id))
      for (const [id, held] of await this.membershipsOf(workspaceId, unseen))
        primary.set(
          id,
          primarySegment(
            held.map((m) => m.segmentKey),
            priorities,
          ),
        )
      picks.push({
        segment: s.key,
        id: ids.find((id) => primary.get(id) === s.key) ?? ids[0] ?? null,
      })
    }
    return {
      template: key,
      warnings,
      previews: await this.rows(workspaceId, template, picks, priorities),
    }
  }

  /** Memberships by profile, every id present (with none when it has none). */
  private async membershipsOf(
    workspaceId: string,
    ids: readonly string[],
  ): Promise<Map<string, MembershipRecord[]>> {
    const out = new Map<string, MembershipRecord[]>(ids.map((id) => [id, []]))
    for (const m of await this.store.membershipsOf(workspaceId, ids)) out.get(m.profileId)?.push(m)
    return out
  }

  private async rows(
    workspaceId: string,
    template: TemplateSource,
    picks: readonly Pick[],
    priorities: ReadonlyMap<string, number>,
  ): Promise<PreviewRow[]> {
    const out: PreviewRow[] = []
    for (let i = 0; i < picks.length; i += CHUNK) {
      await yieldNow()
      out.push(...(await this.chunk(workspaceId, template, picks.slice(i, i + CHUNK), priorities)))
    }
    return out
  }

  private async chunk(
    workspaceId: string,
    template: TemplateSource,
    picks: readonly Pick[],
    priorities: ReadonlyMap<string, number>,
  ): Promise<PreviewRow[]> {
    const ids = [...new Set(picks.flatMap((p) => (p.id === null ? [] : [p.id])))]
    const [profiles, identities, memberships] = await Promise.all([
      this.store.profilesOf(workspaceId, ids),
      this.store.identitiesOf(workspaceId, ids),
      this.membershipsOf(workspaceId, ids),
    ])
    const insights = (await this.options.insights?.(workspaceId, ids, memberships)) ?? new Map()
    const byId = new Map(profiles.map((p) => [p.id, p]))
    const now = this.clock.now()
    const people = picks.map((pick) => {
      const profile = pick.id === null ? undefined : byId.get(pick.id)
      if (!profile) return null
      const held = (memberships.get(profile.id) ?? []).map((m) => m.segmentKey)
      const email = emailAddressOf(profile, identities)
      return {
        profile,
        held,
        email,
        context: templateContext(profile, held, priorities, {
          now,
          unsubscribeUrl: `${this.options.publicUrl}/e/u/preview`,
          email,
          insight: insights.get(profile.id) ?? null,
        }),
      }
    })
    const present = people.filter((p) => p !== null)
    const rendered = await this.templates.renderMany(
      template,
      present.map((p) => p.context),
    )
    let next = 0
    return picks.map((pick, i): PreviewRow => {
      const person = people[i]
      if (!person) {
        if (pick.segment === null)
          throw new SegflowError('profile_not_found', `no profile ${JSON.stringify(pick.id)}`)
        return {
          segment: pick.segment,
          profile: null,
          recipientSegment: null,
          subject: null,
          html: null,
          text: null,
          error: 'the segment has no members to preview with',
        }
      }
      const { profile, held, email } = person
      const recipientSegment = primarySegment(held, priorities)
      const base = {
        segment: pick.segment ?? recipientSegment,
        profile: { id: profile.id, userId: profile.userId, email },
        recipientSegment,
      }
      const r = rendered[next++]!
      return r instanceof SegflowError
        ? { ...base, subject: null, html: null, text: null, error: r.message }
        : { ...base, ...r, error: null }
    })
  }
}
