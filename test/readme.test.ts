/**
 * Every example in README.md, run. Shell examples run in bash against a real `segflow serve`
 * (curl against its port, `segflow` as the real command line), in README order; JSON requests
 * (`PUT /api/…` then a body) are sent; rules are previewed and templates saved on the server,
 * so each must be accepted as written. Output samples are parsed. A block this test cannot
 * run must be listed in SKIPPED with the reason: a new example fails until it runs or is listed.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { segflowCommandLine, startSegflowProcess } from './helpers/process.js'
import type { SegflowProcess } from './helpers/process.js'
import { testStoreKinds, newStoreLocation } from './helpers/stores.js'
import type { StoreLocation } from './helpers/stores.js'

const README = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8')
const WRITE_KEY = 'sfw_readme_write_key_000000000001'
const ADMIN_KEY = 'sfa_readme_admin_key_000000000001'

interface Block {
  readonly lang: string
  readonly line: number
  readonly text: string
}

function blocks(markdown: string): Block[] {
  const out: Block[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!)
    if (!open) continue
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!)
    out.push({ lang: open[1]!, line: start + 1, text: body.join('\n') })
  }
  return out
}

/** Blocks not run, by their first line, and why. */
const SKIPPED: Record<string, string> = {
  'npm install && npm start': 'CI installs from a clean clone; serve itself is what this test runs',
  'npm test                                          # every test, on SQLite':
    'this is the test run itself',
  'npm run build       # TypeScript → dist/': 'CI runs each of these',
  'segflow serve                                   # what npm start runs':
    'a synopsis with placeholders (KEY_ID, PROFILE); each command runs in the examples above',
  "import { Webhook } from 'standardwebhooks'":
    'a fragment of the receiver’s code (test/webhooks.test.ts verifies with standardwebhooks)',
}

const firstLine = (b: Block) => b.text.split('\n')[0]!

/** What a server must hold before a block can run: things the README names but made elsewhere. */
const BEFORE: Record<string, { method: string; url: string; body: unknown }[]> = {
  'PUT /api/automations/trial-nudge': [
    { method: 'PUT', url: '/api/segments/trial', body: { rule: { trait: 'plan', eq: 'trial' } } },
    {
      method: 'PUT',
      url: '/api/templates/trial-tips',
      body: { subject: 'Tips', html: '<p>Tips</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>' },
    },
  ],
}

describe.each(testStoreKinds())('README examples on %s', (kind) => {
  const all = blocks(README)
  let location: StoreLocation
  let server: SegflowProcess
  let cwd: string

  beforeAll(async () => {
    location = await newStoreLocation(kind)
    cwd = mkdtempSync(join(tmpdir(), 'segflow-readme-'))
    // `segflow apply -f segments/` applies the file the README shows as segments/intent.yaml.
    const segmentsFile = all.find((b) => b.text.startsWith('# segments/intent.yaml'))
    expect(segmentsFile, 'the segments-as-code example').toBeDefined()
    mkdirSync(join(cwd, 'segments'))
    writeFileSync(join(cwd, 'segments', 'intent.yaml'), segmentsFile!.text)
    server = await startSegflowProcess({
      ...location.env,
      SEGFLOW_WRITE_KEY: WRITE_KEY,
      SEGFLOW_ADMIN_KEY: ADMIN_KEY,
      // The webhook example points at a made-up public host; nothing is sent in this test.
      SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true',
    })
  }, 60_000)

  afterAll(async () => {
    server?.child.kill('SIGTERM')
    await server?.exited
    await location?.destroy()
    if (cwd) rmSync(cwd, { recursive: true, force: true })
  })

  const api = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${server.url}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: res.status, text: await res.text() }
  }

  /** Runs a shell example: its keys and address are this server's, curl fails on 4xx/5xx. */
  const shell = (b: Block) => {
    const port = new URL(server.url).port
    const script = b.text
      .replaceAll('sfw_...', WRITE_KEY)
      .replaceAll('sfa_...', ADMIN_KEY)
      .replaceAll('sfa_…', ADMIN_KEY)
      .replaceAll('127.0.0.1:8787', `127.0.0.1:${port}`)
      .replaceAll('localhost:8787', `127.0.0.1:${port}`)
    const prelude = [
      'set -euo pipefail',
      `curl() { command curl -sS --fail-with-body "$@"; echo; }`,
      `segflow() { ${segflowCommandLine([])} "$@"; }`,
    ].join('\n')
    return new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('bash', ['-c', `${prelude}\n${script}`], {
        cwd,
        env: {
          ...process.env,
          // `segflow users …` works on the server's database.
          ...location.env,
          SEGFLOW_URL: server.url,
          SEGFLOW_ADMIN_KEY: ADMIN_KEY,
          WRITE_KEY,
          ADMIN_KEY,
        },
      })
      let out = ''
      child.stdout.on('data', (c: Buffer) => (out += c.toString()))
      child.stderr.on('data', (c: Buffer) => (out += c.toString()))
      child.on('close', (code) => resolve({ code, out }))
    })
  }

  it('runs every example as written, in order', async () => {
    const rules: Block[] = []
    const ran: number[] = []
    for (const b of all) {
      const where = `README.md:${b.line}`
      if (SKIPPED[firstLine(b)] !== undefined) continue
      if (b.lang === 'sh') {
        const r = await shell(b)
        expect(r.code, `${where} failed:\n${r.out}`).toBe(0)
      } else if (b.lang === 'json' && /^(PUT|POST) \/api\//.test(firstLine(b))) {
        const [method, url] = firstLine(b).split(' ') as [string, string]
        for (const pre of BEFORE[firstLine(b)] ?? []) {
          const r = await api(pre.method, pre.url, pre.body)
          expect(r.status, `${where} (set-up ${pre.url}): ${r.text}`).toBeLessThan(300)
        }
        const r = await api(method, url, JSON.parse(b.text.split('\n').slice(1).join('\n')))
        expect(r.status, `${where}: ${r.text}`).toBeLessThan(300)
      } else if (b.lang === 'json') {
        expect(() => JSON.parse(b.text), where).not.toThrow()
      } else if (b.lang === 'yaml') {
        if (!b.text.startsWith('# segments/')) rules.push(b)
      } else if (b.lang === 'liquid') {
        const r = await api('PUT', `/api/templates/readme-${b.line}`, {
          subject: 'README',
          html: b.text,
        })
        expect(r.status, `${where}: ${r.text}`).toBeLessThan(300)
      } else if (b.lang === '') {
        continue // output samples and diagrams
      } else {
        throw new Error(
          `${where}: no way to run a \`${b.lang}\` block; run it or list it in SKIPPED`,
        )
      }
      ran.push(b.line)
    }
    // Rules last: some name the scoring model and stages that later examples set up.
    for (const b of rules) {
      for (const rule of rulesOf(b)) {
        const r = await api('POST', '/api/segments/preview', { rule })
        expect(r.status, `README.md:${b.line} ${JSON.stringify(rule)}: ${r.text}`).toBe(200)
      }
      ran.push(b.line)
    }
    expect(ran.length).toBeGreaterThan(15)
  }, 240_000)
})

/**
 * The rules of a YAML example: one rule, a list of conditions, or several rules one after
 * another, each under its own `# comment` line.
 */
function rulesOf(b: Block): unknown[] {
  const parts = b.text.split(/\n(?=# )/)
  return parts.flatMap((part) => {
    const docs = parseAllDocuments(part)
    return docs.flatMap((d) => {
      if (d.errors.length > 0) throw new Error(`README.md:${b.line}: ${d.errors[0]!.message}`)
      const v = d.toJS() as unknown
      return Array.isArray(v) ? v : [v]
    })
  })
}
