import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { buildProgram } from '../src/cli/main.js'
import { KeyService } from '../src/keys/key-service.js'
import { ManualClock } from '../src/shared/clock.js'
import { cli } from './helpers/cli.js'
import {
  newCreatedLocation,
  newStoreLocation,
  newTestStore,
  testStoreKinds,
} from './helpers/stores.js'
import type { StoreLocation, TestStore } from './helpers/stores.js'

describe.each(testStoreKinds())('segflow keys and workspaces on %s', (kind) => {
  let location: StoreLocation
  beforeEach(async () => {
    location = await newCreatedLocation(kind)
  })
  afterEach(async () => {
    await location.destroy()
  })
  const run = (...args: string[]) => cli(args, location.env)

  it('creates a key, lists it without the secret, and revokes it', async () => {
    const created = JSON.parse(
      (await run('keys', 'create', '--type', 'write', '--name', 'website', '--json')).out,
    )
    expect(created).toMatchObject({
      workspace: 'default',
      type: 'write',
      name: 'website',
      revokedAt: null,
    })
    expect(created.key).toMatch(/^sfw_[A-Za-z0-9_-]{32}$/)

    const list = (await run('keys', 'list')).out
    expect(list).toContain(created.id)
    expect(list).toContain('website')
    expect(list).not.toContain(created.key)
    expect(list).toContain(`${created.key.slice(0, 8)}…`)

    const store = location.open()
    try {
      const keys = new KeyService(store, new ManualClock(Date.now()))
      expect((await keys.authenticate(created.key))?.id).toBe(created.id)
      // Only the hash is stored.
      const stored = await store.getApiKey(created.id)
      expect(JSON.stringify(stored)).not.toContain(created.key)
      expect((await run('keys', 'revoke', created.id)).out).toMatch(/Revoked write key/)
      expect(
        await new KeyService(store, new ManualClock(Date.now())).authenticate(created.key),
      ).toBeNull()
    } finally {
      await store.close()
    }
    expect(JSON.parse((await run('keys', 'list', '--json')).out)[0].revokedAt).not.toBeNull()
  })

  it('scopes keys to workspaces and explains mistakes', async () => {
    expect((await run('workspaces', 'create', 'shop-eu', '--name', 'Shop EU')).out).toMatch(
      /Created workspace shop-eu/,
    )
    const admin = JSON.parse(
      (await run('keys', 'create', '--type', 'admin', '--workspace', 'shop-eu', '--json')).out,
    )
    expect(admin.key).toMatch(/^sfa_/)
    expect((await run('workspaces', 'list')).out).toMatch(/shop-eu\s+Shop EU/)
    const onlyEu = JSON.parse((await run('keys', 'list', '--workspace', 'shop-eu', '--json')).out)
    expect(onlyEu.map((k: { id: string }) => k.id)).toEqual([admin.id])

    await expect(
      run('keys', 'create', '--type', 'write', '--workspace', 'nowhere'),
    ).rejects.toThrow(/workspace "nowhere" does not exist/)
    await expect(run('keys', 'revoke', 'key_missing')).rejects.toThrow(
      /no key with id "key_missing"/,
    )
    await expect(run('workspaces', 'create', 'shop-eu')).rejects.toThrow(/already exists/)
    await expect(run('workspaces', 'create', 'Bad Name')).rejects.toThrow(/lower-case letters/)
    await expect(run('keys', 'create', '--type', 'root')).rejects.toThrow(
      /Allowed choices are write, admin/,
    )
  })

  it('registers SEGFLOW_WRITE_KEY once and never prints a generated key outside serve', async () => {
    const env = { ...location.env, SEGFLOW_WRITE_KEY: 'my-existing-segment-key' }
    await cli(['keys', 'list'], env)
    const keys = JSON.parse((await cli(['keys', 'list', '--json'], env)).out)
    expect(keys).toHaveLength(1)
    expect(keys[0]).toMatchObject({ type: 'write', name: 'SEGFLOW_WRITE_KEY', prefix: 'my-exist' })
  })

  it('refuses to work on a database that segflow serve never created, creating nothing', async () => {
    const elsewhere = await newStoreLocation(kind)
    try {
      const env = { ...elsewhere.env, SEGFLOW_ADMIN_KEY: 'an-exported-admin-key' }
      for (const args of [
        ['keys', 'list'],
        ['keys', 'create', '--type', 'write'],
        ['workspaces', 'list'],
        ['import', 'nothing.ndjson'],
      ])
        await expect(cli(args, env), args.join(' ')).rejects.toThrow(
          kind === 'sqlite'
            ? /^no segflow database at .*segflow\.db: run this where `segflow serve` keeps its data, or point SEGFLOW_DATA_DIR/
            : /^no segflow database in schema t_\w+ of SEGFLOW_DATABASE_URL: start `segflow serve` on it once/,
        )
      // Nothing was made there: no file, no tables.
      const store = elsewhere.open()
      try {
        expect(await store.initialized()).toBe(false)
      } finally {
        await store.close()
      }
    } finally {
      await elsewhere.destroy()
    }
  })

  it('prints its version', async () => {
    const { version } = JSON.parse(
      readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    )
    const printed: string[] = []
    await expect(
      buildProgram(
        { out: (l) => printed.push(l), err: () => undefined, interactive: false },
        {},
      ).parseAsync(['node', 'segflow', '--version']),
    ).rejects.toMatchObject({ code: 'commander.version' })
    expect(printed).toEqual([version])
  })
})

describe.each(testStoreKinds())('first-start key bootstrap on %s', (kind) => {
  let t: TestStore
  beforeEach(async () => {
    t = await newTestStore(kind)
  })
  afterEach(async () => {
    await t.cleanup()
  })

  it('generates a write and an admin key once, and keeps a revoked env key revoked', async () => {
    const keys = new KeyService(t.store, new ManualClock(Date.now()))
    const first = await keys.bootstrap({})
    expect(first.map((c) => c.record.kind).sort()).toEqual(['admin', 'write'])
    expect(await keys.bootstrap({})).toEqual([])
    expect(await keys.authenticate(first[0]!.key)).not.toBeNull()

    await keys.bootstrap({ adminKey: 'ops-admin-key-123' })
    const record = await keys.authenticate('ops-admin-key-123')
    expect(record?.kind).toBe('admin')
    await keys.revoke(record!.id)
    await keys.bootstrap({ adminKey: 'ops-admin-key-123' })
    expect(await keys.authenticate('ops-admin-key-123')).toBeNull()
    await expect(keys.bootstrap({ writeKey: 'ops-admin-key-123' })).rejects.toThrow(
      /already registered as an admin key/,
    )
  })
})
