import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/cli/config.js'
import { openRuntime } from '../src/cli/runtime.js'
import { importFile } from '../src/ingest/import.js'
import { ManualClock } from '../src/shared/clock.js'
import { cli } from './helpers/cli.js'
import { basic, WRITE_KEY } from './helpers/runtime.js'
import { runSegflow, segflowCommandLine, startSegflowProcess } from './helpers/process.js'
import { newCreatedLocation, testStoreKinds } from './helpers/stores.js'
import type { StoreLocation } from './helpers/stores.js'

describe.each(testStoreKinds())('segflow import on %s', (kind) => {
  let location: StoreLocation
  let dir: string
  beforeEach(async () => {
    location = await newCreatedLocation(kind)
    dir = mkdtempSync(join(tmpdir(), 'segflow-import-'))
  })
  afterEach(async () => {
    await location.destroy()
    rmSync(dir, { recursive: true, force: true })
  })

  const run = (...args: string[]) => cli(args, location.env)
  const withStore = async <T>(fn: (s: ReturnType<StoreLocation['open']>) => Promise<T>) => {
    const store = location.open()
    try {
      return await fn(store)
    } finally {
      await store.close()
    }
  }

  it('imports NDJSON messages, names rejected lines, and changes nothing on a second run', async () => {
    const file = join(dir, 'events.ndjson')
    writeFileSync(
      file,
      [
        JSON.stringify({
          type: 'identify',
          userId: 'u1',
          traits: { plan: 'pro' },
          timestamp: '2026-01-01T00:00:00Z',
        }),
        JSON.stringify({
          type: 'track',
          userId: 'u1',
          event: 'Order Completed',
          properties: { revenue: 30 },
          timestamp: '2026-01-02T00:00:00Z',
        }),
        '{"type": "track", "userId": ',
        '',
        JSON.stringify({ type: 'track', userId: 'u2' }),
        JSON.stringify({ type: 'page', anonymousId: 'a7', name: 'Home', messageId: 'given-id' }),
      ].join('\n'),
    )
    const first = await run('import', file)
    expect(first.out).toMatch(/5 rows in .*: 3 stored, 0 already stored, 2 rejected/)
    expect(first.out).toContain('line 3: not valid JSON')
    expect(first.out).toContain('line 5 (event): event is required for track')

    const snapshot = () =>
      withStore(async (s) => {
        const id = (await s.resolveProfileId('default', 'u1'))!
        return {
          events: await s.countEvents('default'),
          profile: await s.getProfile('default', id),
        }
      })
    const before = await snapshot()
    expect(before.events).toBe(3)
    expect(before.profile).toMatchObject({
      traits: { plan: 'pro' },
      firstSeen: Date.parse('2026-01-01T00:00:00Z'),
    })

    const second = await run('import', file, '--json')
    expect(JSON.parse(second.out)).toMatchObject({
      rows: 5,
      stored: 0,
      duplicates: 3,
      rejectedCount: 2,
    })
    expect(await snapshot()).toEqual(before)
  })

  it('imports CSV profiles by id or email with inferred types, idempotently', async () => {
    const file = join(dir, 'people.csv')
    writeFileSync(
      file,
      [
        'id,Email,plan,seats,zip,vip',
        'u1,ann@example.com,pro,5,02134,true',
        ',bob@example.com,free,1,10001,false',
        ',,free,1,,',
        'u3,,"team, annual",12,,',
        'u4,,bad\u0000value,1,,',
      ].join('\n'),
    )
    const first = await run('import', file)
    expect(first.out).toMatch(/: 3 stored, 0 already stored, 2 rejected/)
    expect(first.out).toContain('line 4 (id): the row has no id and no email')
    expect(first.out).toContain('line 6: a value contains a NUL character, which cannot be stored')

    const profiles = () =>
      withStore(async (s) => {
        const out: Record<string, unknown> = {}
        for (const ref of ['u1', 'bob@example.com', 'u3'])
          out[ref] = await s.getProfile('default', (await s.resolveProfileId('default', ref))!)
        return out
      })
    const before = await profiles()
    expect(before['u1']).toMatchObject({
      userId: 'u1',
      traits: { email: 'ann@example.com', plan: 'pro', seats: 5, zip: '02134', vip: true },
      firstSeen: null,
    })
    expect(before['bob@example.com']).toMatchObject({
      userId: null,
      traits: { email: 'bob@example.com', seats: 1, zip: 10001, vip: false },
    })
    expect(before['u3']).toMatchObject({ traits: { plan: 'team, annual', seats: 12 } })

    const second = await run('import', file)
    expect(second.out).toMatch(/: 0 stored, 3 already stored, 2 rejected/)
    expect(await profiles()).toEqual(before)

    // Later, the email-only person signs up: the imported profile becomes theirs.
    await withStore(async (s) => {
      const rt = await openRuntime(loadConfig(location.env), { store: s })
      await rt.ingestor.single('default', 'identify', {
        userId: 'bob',
        traits: { email: 'Bob@Example.com' },
      })
      await rt.queue.close()
      const p = await s.getProfile('default', (await s.resolveProfileId('default', 'bob'))!)
      expect(p!.traits).toMatchObject({ plan: 'free', seats: 1 })
    })
  })

  it('explains a CSV it cannot use and a file it cannot read', async () => {
    const file = join(dir, 'bad.csv')
    writeFileSync(file, 'name,plan\nAnn,pro\n')
    await expect(run('import', file)).rejects.toThrow(
      /no id column \(userId, user_id, id\) and no email column/,
    )
    await expect(run('import', file, '--id-column', 'customer')).rejects.toThrow(
      /no column "customer"/,
    )
    await expect(run('import', join(dir, 'data.txt'))).rejects.toThrow(
      /pass --format ndjson or --format csv/,
    )
    await expect(run('import', join(dir, 'missing.csv'))).rejects.toThrow(/ENOENT/)
    await expect(run('import', file, '--workspace', 'nope')).rejects.toThrow(
      /workspace "nope" does not exist/,
    )
  })

  it('shows a progress bar with rows, rate and ETA on a terminal', () => {
    const file = join(dir, 'tty.csv')
    writeFileSync(
      file,
      ['userId,plan', ...Array.from({ length: 5000 }, (_, i) => `u${i},pro`)].join('\n'),
    )
    // `script` runs the command on a pseudo-terminal, as a person at a shell would.
    const screen = execFileSync(
      'script',
      ['-qfec', `${segflowCommandLine(['import', file, '--batch-size', '500'])}`, '/dev/null'],
      {
        env: { ...process.env, ...location.env },
        encoding: 'utf8',
      },
    )
    expect(screen).toMatch(/\d+% \| [\d,]+ rows \| [\d,]+ rows\/s \| ETA \d+s/)
    expect(screen).toMatch(/Imported tty\.csv: 5,000 rows/)
  })

  it('streams: progress is reported before the file has been read through', async () => {
    const file = join(dir, 'many.csv')
    const rows = ['userId,plan,score']
    for (let i = 0; i < 30_000; i++) rows.push(`user-${i},${i % 3 === 0 ? 'pro' : 'free'},${i}`)
    writeFileSync(file, rows.join('\n'))
    const store = location.open()
    await store.migrate()
    const rt = await openRuntime(loadConfig(location.env), {
      store,
      clock: new ManualClock(Date.parse('2026-05-01T00:00:00Z')),
    })
    await rt.keys.bootstrap({}, { generate: false })
    const progress: Array<{ rows: number; bytesRead: number; totalBytes: number }> = []
    try {
      const summary = await importFile(file, rt.ingestor, rt.clock, {
        workspaceId: 'default',
        format: 'csv',
        batchSize: 1000,
        onProgress: (p) => progress.push(p),
      })
      expect(summary).toMatchObject({ rows: 30_000, stored: 30_000, rejectedCount: 0 })
      expect(progress.length).toBeGreaterThanOrEqual(30)
      // The first batch was committed while most of the file was still unread.
      expect(progress[0]!.bytesRead).toBeLessThan(progress[0]!.totalBytes / 2)
      expect(progress.at(-1)!.bytesRead).toBe(progress.at(-1)!.totalBytes)
      expect(await store.countProfiles('default')).toBe(30_000)
    } finally {
      await rt.close()
    }
  })

  it('counts what a separate `segflow import` stored in the running server’s /metrics', async () => {
    const server = await startSegflowProcess({ ...location.env, SEGFLOW_WRITE_KEY: WRITE_KEY })
    /** segflow import, as its own process (as a person runs it beside a server), to its exit. */
    const importProcess = async (file: string) => {
      const child = runSegflow(['import', file], location.env)
      let text = ''
      child.stdout!.on('data', (c: Buffer) => (text += c.toString()))
      child.stderr!.on('data', (c: Buffer) => (text += c.toString()))
      const code = await new Promise<number | null>((r) => child.once('exit', r))
      expect(code, text).toBe(0)
      return text
    }
    const imported = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text()
      return text
        .split('\n')
        .filter((l) => l.startsWith('segflow_imported_messages_total{'))
        .sort()
    }
    try {
      expect(await imported()).toEqual([])
      const events = join(dir, 'events.ndjson')
      writeFileSync(
        events,
        [
          { type: 'identify', userId: 'u1', traits: { plan: 'pro' } },
          { type: 'track', userId: 'u1', event: 'Order Completed' },
          { type: 'track', userId: 'u2', event: 'Order Completed' },
          { type: 'track', userId: 'u2' },
        ]
          .map((m) => JSON.stringify(m))
          .join('\n'),
      )
      expect(await importProcess(events)).toMatch(/3 stored, 0 already stored, 1 rejected/)
      const people = join(dir, 'people.csv')
      writeFileSync(people, 'userId,plan\nu3,pro\nu4,free\n')
      await importProcess(people)
      expect(await imported()).toEqual([
        'segflow_imported_messages_total{type="identify"} 3',
        'segflow_imported_messages_total{type="track"} 2',
      ])
      // A second run stores nothing again, and counts nothing again.
      expect(await importProcess(events)).toMatch(/0 stored, 3 already stored/)
      expect(await imported()).toEqual([
        'segflow_imported_messages_total{type="identify"} 3',
        'segflow_imported_messages_total{type="track"} 2',
      ])
      // What the server itself ingests is not an import.
      const sent = await fetch(`${server.url}/v1/track`, {
        method: 'POST',
        headers: { authorization: basic(WRITE_KEY), 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'u9', event: 'Order Completed' }),
      })
      expect(sent.status).toBe(200)
      const metrics = await (await fetch(`${server.url}/metrics`)).text()
      expect(metrics).toContain('segflow_ingested_messages_total{type="track"} 1')
      expect(await imported()).toContain('segflow_imported_messages_total{type="track"} 2')
    } finally {
      server.child.kill('SIGTERM')
      await server.exited
    }
  }, 60_000)
})
