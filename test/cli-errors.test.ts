import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { ConfigError, loadConfig } from '../src/cli/config.js'
import { runSegflow } from './helpers/process.js'
import { newCreatedLocation } from './helpers/stores.js'

/** Runs `segflow <args>` in its own process; what it printed and how it ended. */
function run(args: string[], env: Record<string, string>) {
  const child = runSegflow(args, env)
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, out, err })),
  )
}

/** One line naming the problem: no stack frames, no Node internals. */
function expectOneLine(err: string, message: RegExp) {
  const lines = err.trim().split('\n')
  expect(lines, err).toHaveLength(1)
  expect(lines[0]).toMatch(/^segflow: /)
  expect(lines[0]).toMatch(message)
  expect(err).not.toMatch(/\n\s+at |node:internal|triggerUncaughtException/)
}

describe('command-line failures a person can fix', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'segflow-cli-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('rejects malformed CSV rows by their line and imports the rest', async () => {
    const file = join(dir, 'people.csv')
    writeFileSync(
      file,
      'userId,email\nu1,a@x.io\nu2,b@x.io,extra\nu3,c@x.io\nu4,"d@x.io\nu5,e@x.io\n',
    )
    const location = await newCreatedLocation('sqlite')
    const r = await run(['import', file, '--json'], location.env).finally(() => location.destroy())
    expect(r.code, r.err).toBe(0)
    expect(r.err).not.toMatch(/\n\s+at /)
    const summary = JSON.parse(r.out)
    expect(summary).toMatchObject({ stored: 2, rejectedCount: 2 })
    expect(summary.rejected).toEqual([
      {
        line: 3,
        field: '',
        reason: expect.stringMatching(/^not valid CSV: Invalid Record Length/),
      },
      // csv-parse names the line where it gave up on the quote: the end of the file.
      { line: 6, field: '', reason: expect.stringMatching(/^not valid CSV: Quote Not Closed/) },
    ])
  })

  it('names the data folder it cannot use, for serve', async () => {
    const blocker = join(dir, 'a-file')
    writeFileSync(blocker, '')
    const r = await run(['serve'], { SEGFLOW_DATA_DIR: join(blocker, 'data'), SEGFLOW_PORT: '0' })
    expect(r.code).toBe(1)
    expectOneLine(
      r.err,
      /cannot use .*a-file\/data: a part of that path is a file.*SEGFLOW_DATA_DIR/,
    )
  })

  it('names the variable, port or path of a startup mistake in one line', async () => {
    const data = { SEGFLOW_DATA_DIR: join(dir, 'data'), SEGFLOW_PORT: '0' }
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as AddressInfo).port
    try {
      const cases: [string[], Record<string, string>, RegExp][] = [
        [
          ['serve'],
          { SEGFLOW_SMTP_URL: 'http://x' },
          /SEGFLOW_SMTP_URL="http:\/\/x" must start with smtp:\/\/ or smtps:\/\//,
        ],
        [
          ['serve'],
          { SEGFLOW_PORT: String(port) },
          new RegExp(`port ${port} is already in use \\(EADDRINUSE\\).*SEGFLOW_PORT`),
        ],
        [
          ['serve'],
          { SEGFLOW_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' },
          /cannot reach PostgreSQL at SEGFLOW_DATABASE_URL \(127\.0\.0\.1:1\): connection refused/,
        ],
        [
          ['apply', '-f', join(dir, 'nope') + '/', '--key', 'k', '--url', 'http://127.0.0.1:1'],
          {},
          /no such file or folder: .*nope/,
        ],
      ]
      for (const [args, env, message] of cases) {
        const r = await run(args, { ...data, ...env })
        expect(r.code, `${args.join(' ')} ${JSON.stringify(env)}: ${r.err}`).toBe(1)
        expectOneLine(r.err, message)
      }
    } finally {
      taken.close()
    }
  })
})

describe('configuration mistakes', () => {
  it.each([
    ['SEGFLOW_DATABASE_URL', 'mysql://x/y', /must start with postgres:\/\/ or postgresql:\/\//],
    ['SEGFLOW_DATABASE_URL', 'not a url', /is not a URL; expected one like postgres:\/\//],
    ['SEGFLOW_DATABASE_SCHEMA', 'Bad-Name', /must be lower-case letters, digits and underscores/],
    ['SEGFLOW_PUBLIC_URL', 'ftp://x', /must start with http:\/\/ or https:\/\//],
    ['SEGFLOW_SMTP_URL', 'smtp//oops', /is not a URL/],
  ])('%s=%s is refused naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError)
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}=`))
    expect(() => loadConfig({ [name]: value })).toThrow(message)
  })
})
