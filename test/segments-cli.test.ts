import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/cli/config.js'
import { startServer } from '../src/cli/serve.js'
import type { Server } from '../src/cli/serve.js'
import { cli } from './helpers/cli.js'
import { ADMIN_KEY, basic, WRITE_KEY } from './helpers/runtime.js'
import { newStoreLocation, testStoreKinds } from './helpers/stores.js'
import type { StoreLocation } from './helpers/stores.js'

describe.each(testStoreKinds())('segflow apply and explain against a server on %s', (kind) => {
  let location: StoreLocation
  let server: Server
  let dir: string
  let env: Record<string, string>

  beforeEach(async () => {
    location = await newStoreLocation(kind)
    dir = mkdtempSync(join(tmpdir(), 'segflow-apply-'))
    server = await startServer(
      loadConfig({
        ...location.env,
        SEGFLOW_PORT: '0',
        SEGFLOW_WRITE_KEY: WRITE_KEY,
        SEGFLOW_ADMIN_KEY: ADMIN_KEY,
      }),
      { logger: pino({ level: 'silent' }), print: () => undefined },
    )
    env = { SEGFLOW_URL: server.url, SEGFLOW_ADMIN_KEY: ADMIN_KEY }
    const res = await fetch(`${server.url}/v1/batch`, {
      method: 'POST',
      headers: { authorization: basic(WRITE_KEY), 'content-type': 'application/json' },
      body: JSON.stringify({
        batch: [
          { type: 'identify', userId: 'ann', traits: { plan: 'pro' } },
          { type: 'identify', userId: 'bob', traits: { plan: 'free' } },
          { type: 'track', userId: 'ann', event: 'Viewed Pricing' },
        ],
      }),
    })
    expect(res.status).toBe(200)
  })
  afterEach(async () => {
    await server.stop()
    await location.destroy()
    rmSync(dir, { recursive: true, force: true })
  })

  const settled = async () => {
    for (const key of ['pro', 'hot', 'free']) await server.runtime.segments.settled('default', key)
  }

  it('prints a plan, applies it with --yes, and then has nothing to do', async () => {
    writeFileSync(
      join(dir, 'a.yaml'),
      [
        'key: pro',
        'name: Pro plan',
        'rule:',
        '  trait: plan',
        '  eq: pro',
        '---',
        'key: hot',
        'rule:',
        '  all:',
        '    - segment: pro',
        '    - event: Viewed Pricing',
        '      within: 7d',
        '',
      ].join('\n'),
    )
    writeFileSync(
      join(dir, 'b.yml'),
      ['key: free', 'rule: { trait: plan, eq: free }', ''].join('\n'),
    )
    const plan = await cli(['apply', '-f', dir], env)
    expect(plan.out).toMatch(/^Plan: 3 to create, 0 to update, 0 to delete, 0 unchanged/)
    expect(plan.out).toMatch(/\+ pro\s+new\s+1 would enter/)
    expect(plan.out).toMatch(/\+ free\s+new\s+1 would enter/)
    expect(plan.out).toContain('Run again with --yes')
    const listed = (await (
      await fetch(`${server.url}/api/segments`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      })
    ).json()) as { items: unknown[] }
    expect(listed.items).toEqual([])

    const applied = await cli(['apply', '-f', dir, '--yes'], env)
    // The referenced segment is created before the one that uses it.
    expect(applied.out.indexOf('Created pro')).toBeLessThan(applied.out.indexOf('Created hot'))
    await settled()
    expect((await cli(['apply', '-f', dir], env)).out).toMatch(
      /Plan: 0 to create, 0 to update, 0 to delete, 3 unchanged[\s\S]*Nothing to do/,
    )

    // A changed rule shows who would enter and leave; a removed file is deleted only with --prune.
    writeFileSync(
      join(dir, 'b.yml'),
      ['key: free', 'rule: { trait: plan, in: [free, pro] }', ''].join('\n'),
    )
    const update = await cli(['apply', '-f', join(dir, 'b.yml')], env)
    expect(update.out).toMatch(/~ free\s+rule v1 → v2\s+1 would enter, 0 would leave/)
    expect(update.out).toMatch(/2 segments exist only in segflow: hot, pro; --prune deletes them/)
    const pruned = await cli(['apply', '-f', join(dir, 'b.yml'), '--prune', '--yes'], env)
    expect(pruned.out).toMatch(/- pro\s+delete/)
    expect(pruned.out.indexOf('Deleted hot')).toBeLessThan(pruned.out.indexOf('Deleted pro'))
  })

  it('names the file, line and column of a mistake, and changes nothing', async () => {
    writeFileSync(
      join(dir, 'bad.yaml'),
      ['key: hot', 'rule:', '  event: Viewed Pricing', '  within: 7 days', ''].join('\n'),
    )
    await expect(cli(['apply', '-f', dir, '--yes'], env)).rejects.toThrow(
      /bad\.yaml:4:11: rule\.within: within "7 days" is not a duration/,
    )
  })

  it('files privacy requests: export to a file, erase, and list them with due dates', async () => {
    const file = join(dir, 'ann.json')
    const exported = await cli(['privacy', 'export', 'ann', '--out', file], env)
    expect(exported.out).toMatch(
      /^export request prq_\S+: completed \(gdpr, due \S+\); written to .*ann\.json$/,
    )
    const data = JSON.parse(readFileSync(file, 'utf8'))
    expect(data.tables.events.map((e: { type: string }) => e.type).sort()).toEqual([
      'identify',
      'track',
    ])
    const erased = await cli(['privacy', 'erase', 'ann', '--regulation', 'ccpa'], env)
    expect(erased.out).toMatch(
      /^erasure request prq_\S+: completed \(ccpa, due \S+\); \d+ rows removed, 0 webhook notifications queued/,
    )
    const res = await fetch(`${server.url}/api/profiles/ann`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    })
    expect(res.status).toBe(409)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('suppressed')
    const list = (await cli(['privacy', 'requests'], env)).out.trim().split('\n')
    expect(list).toHaveLength(2)
    expect(list[0]).toMatch(/^prq_\S+ {2}erasure {2}ccpa {2}completed/)
    expect(list[1]).toMatch(/^prq_\S+ {2}export {3}gdpr {2}completed/)
    await expect(cli(['privacy', 'erase', 'ann', '--regulation', 'lgpd'], env)).rejects.toThrow(
      /Allowed choices are gdpr, ccpa/,
    )
  })

  it('explains a membership as a tree', async () => {
    writeFileSync(
      join(dir, 's.yaml'),
      [
        'key: pro',
        'rule: { trait: plan, eq: pro }',
        '---',
        'key: hot',
        'rule:',
        '  all:',
        '    - segment: pro',
        '    - event: Viewed Pricing',
        '      within: 7d',
        '',
      ].join('\n'),
    )
    await cli(['apply', '-f', dir, '--yes'], env)
    await settled()
    const out = (await cli(['explain', 'ann', 'hot'], env)).out.split('\n')
    expect(out[0]).toMatch(/^ann is in hot \(since \S+: reason backfill\), version 1$/)
    expect(out[1]).toMatch(/^ {2}✓ all of 2 {2}\[changes at /)
    expect(out[2]).toBe('    ✓ in segment pro  (member: true)')
    expect(out[3]).toMatch(
      /^ {4}✓ event "Viewed Pricing", count gte 1 within 7d {2}\(count: 1, latest: \[".*"\]\) {2}\[changes at /,
    )
    expect((await cli(['explain', 'bob', 'hot'], env)).out).toMatch(/^bob is not in hot/)
    await expect(cli(['explain', 'nobody', 'hot'], env)).rejects.toThrow(/no profile has/)
    await expect(cli(['explain', 'ann', 'hot'], { SEGFLOW_URL: server.url })).rejects.toThrow(
      /no admin key/,
    )
  })
})
