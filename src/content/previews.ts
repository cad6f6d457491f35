import { emailAddressOf } from '../delivery/address.js'
import type { Insight } from '../engine/insights.js'
import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import type { Store } from '../store/store.js'
import { primarySegment, templateContext } from './context.js'
import { lintTemplate, render } from './templates.js'
import type { Parsed, TemplateService } from './templates.js'

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

/**
 * Template previews: rendered for one profile, or a QA matrix with one row per segment,
 * rendered for a member whose `recipient.segment` is that segment (or any member when none
 * is), so every branch of a segment-dependent template can be checked before it is sent.
 * Links are not tracked and the unsubscribe link goes nowhere.
 */
export class TemplatePreviews {
  constructor(
    private readonly store: Store,
    private readonly templates: TemplateService,
    private readonly clock: Clock,
    private readonly options: {
      readonly publicUrl: string
      readonly segments: (workspaceId: string) => readonly { key: string; priority: number }[]
      /** Scores, computed fields and lifecycle stage of a person, for the template. */
      readonly insight?: (workspaceId: string, profileId: string) => Promise<Insight | null>
    },
  ) {}

  private priorities(workspaceId: string): Map<string, number> {
    return new Map(this.options.segments(workspaceId).map((s) => [s.key, s.priority]))
  }

  async preview(workspaceId: string, key: string, body: unknown): Promise<PreviewResult> {
    if (!isPlainObject(body))
      throw new SegflowError('invalid_body', 'body must be a JSON object: {} or {"profile": "…"}')
    for (const k of Object.keys(body)) {
      if (k !== 'profile')
        throw new SegflowError(
          'invalid_body',
          `unknown field ${JSON.stringify(k)}; expected profile`,
        )
    }
    if (body.profile !== undefined && (typeof body.profile !== 'string' || body.profile === ''))
      throw new SegflowError(
        'invalid_body',
        'profile must be a profile id, userId, anonymousId or email',
      )
    const { template, parsed } = await this.templates.load(workspaceId, key)
    const priorities = this.priorities(workspaceId)
    const warnings = lintTemplate(template, parsed, new Set(priorities.keys()))
    if (typeof body.profile === 'string') {
      const id = await this.store.resolveProfileId(workspaceId, body.profile)
      if (id === null)
        throw new SegflowError(
          'profile_not_found',
          `no profile has the id, userId, anonymousId or email ${JSON.stringify(body.profile)}`,
        )
      const memberships = await this.memberships(workspaceId, id)
      const row = await this.row(workspaceId, parsed, id, memberships, priorities, null)
      return { template: key, warnings, previews: [row] }
    }
    const segments = [...this.options.segments(workspaceId)].sort(
      (a, b) => b.priority - a.priority || a.key.localeCompare(b.key),
    )
    const previews: PreviewRow[] = []
    for (const s of segments) {
      const ids = await this.store.listMembers(workspaceId, s.key, null, SCAN)
      let chosen: { id: string; memberships: string[] } | null = null
      for (const id of ids) {
        const memberships = await this.memberships(workspaceId, id)
        chosen ??= { id, memberships }
        if (primarySegment(memberships, priorities) === s.key) {
          chosen = { id, memberships }
          break
        }
      }
      previews.push(
        chosen
          ? await this.row(workspaceId, parsed, chosen.id, chosen.memberships, priorities, s.key)
          : {
              segment: s.key,
              profile: null,
              recipientSegment: null,
              subject: null,
              html: null,
              text: null,
              error: 'the segment has no members to preview with',
            },
      )
    }
    return { template: key, warnings, previews }
  }

  private async memberships(workspaceId: string, id: string): Promise<string[]> {
    return (await this.store.profileMemberships(workspaceId, id)).map((m) => m.segmentKey)
  }

  private async row(
    workspaceId: string,
    parsed: Parsed,
    id: string,
    memberships: readonly string[],
    priorities: ReadonlyMap<string, number>,
    segment: string | null,
  ): Promise<PreviewRow> {
    const [profile, identities] = await Promise.all([
      this.store.getProfile(workspaceId, id),
      this.store.listIdentities(workspaceId, id),
    ])
    if (!profile) throw new SegflowError('profile_not_found', `no profile ${JSON.stringify(id)}`)
    const email = emailAddressOf(profile, identities)
    const recipientSegment = primarySegment(memberships, priorities)
    const base = {
      segment: segment ?? recipientSegment,
      profile: { id, userId: profile.userId, email },
      recipientSegment,
    }
    try {
      const out = await render(
        parsed,
        templateContext(profile, memberships, priorities, {
          now: this.clock.now(),
          unsubscribeUrl: `${this.options.publicUrl}/e/u/preview`,
          email,
          insight: (await this.options.insight?.(workspaceId, id)) ?? null,
        }),
      )
      return { ...base, ...out, error: null }
    } catch (e) {
      return { ...base, subject: null, html: null, text: null, error: (e as Error).message }
    }
  }
}
