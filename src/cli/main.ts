#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander'
import { readFileSync } from 'node:fs'
import { SegflowError } from '../shared/errors.js'
import {
  DEFAULT_WORKSPACE,
  importCommand,
  keysCreate,
  keysList,
  keysRevoke,
  processOutput,
  workspacesCreate,
  workspacesList,
} from './commands.js'
import type { Output } from './commands.js'
import { ConfigError, loadConfig } from './config.js'
import { systemErrorLine } from './errors.js'
import { applySegments, apiTarget, explainProfile } from './segment-commands.js'
import { listPrivacyRequests, privacyRequest } from './privacy-commands.js'
import { serve } from './serve.js'
import {
  usersCreate,
  usersDisable,
  usersLink,
  usersList,
  usersRemove,
  usersRole,
} from './user-commands.js'

/** segflow's version, from the package.json beside src/ and dist/. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown
  }
  return String(pkg.version)
}

/** The `segflow` command line. `output` and `env` are injectable so tests can run commands in-process. */
export function buildProgram(
  output: Output = processOutput,
  env: NodeJS.ProcessEnv = process.env,
): Command {
  const program = new Command('segflow')
    .description('Real-time dynamic segmentation for email marketing')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.out(text.trimEnd()),
      writeErr: (text) => output.err(text.trimEnd()),
    })
  const config = () => loadConfig(env)

  program
    .command('serve')
    .description('run the HTTP server (tracking API, admin API) until SIGTERM')
    .action(() => serve(config()))

  const keys = program.command('keys').description('manage write and admin keys')
  keys
    .command('create')
    .description('create a key and print it (once)')
    .addOption(
      new Option('--type <type>', 'write (ingest only) or admin (one workspace)')
        .choices(['write', 'admin'])
        .makeOptionMandatory(),
    )
    .option('--workspace <id>', 'workspace the key belongs to', DEFAULT_WORKSPACE)
    .option('--name <name>', 'a label to tell keys apart')
    .option('--json', 'print JSON')
    .action((opts: { type: string; workspace: string; name?: string; json?: boolean }) =>
      keysCreate(config(), output, opts),
    )
  keys
    .command('list')
    .description('list keys (never the keys themselves)')
    .option('--workspace <id>', 'only this workspace')
    .option('--json', 'print JSON')
    .action((opts: { workspace?: string; json?: boolean }) => keysList(config(), output, opts))
  keys
    .command('revoke')
    .argument('<id>', 'key id, as shown by keys list')
    .description('revoke a key; it stops working at once here and within 5 s in running servers')
    .action((id: string) => keysRevoke(config(), output, id))

  const workspaces = program.command('workspaces').description('manage workspaces')
  workspaces
    .command('create')
    .argument('<id>', 'workspace id: lower-case letters, digits, - and _')
    .option('--name <name>', 'display name')
    .action((id: string, opts: { name?: string }) => workspacesCreate(config(), output, id, opts))
  workspaces.command('list').action(() => workspacesList(config(), output))

  const users = program
    .command('users')
    .description('people who log in (the dashboard), with a role per workspace')
  const roleOption = () =>
    new Option(
      '--role <role>',
      'viewer (reads), editor (changes) or admin (also users, privacy)',
    ).makeOptionMandatory()
  users
    .command('create')
    .argument('<email>', 'their email address (unique, case-insensitively)')
    .description('create a user and print a one-time link to set their password (valid 24 h)')
    .option('--workspace <id>', 'workspace of the role', DEFAULT_WORKSPACE)
    .addOption(roleOption())
    .option('--json', 'print JSON')
    .action((email: string, opts: { workspace: string; role: string; json?: boolean }) =>
      usersCreate(config(), output, email, opts),
    )
  users
    .command('list')
    .description('list users with their roles')
    .option('--workspace <id>', 'only users of this workspace')
    .option('--json', 'print JSON')
    .action((opts: { workspace?: string; json?: boolean }) => usersList(config(), output, opts))
  users
    .command('role')
    .argument('<email>')
    .description("set a user's role in a workspace (granting one if they had none there)")
    .option('--workspace <id>', 'workspace of the role', DEFAULT_WORKSPACE)
    .addOption(roleOption())
    .action((email: string, opts: { workspace: string; role: string }) =>
      usersRole(config(), output, email, opts),
    )
  users
    .command('remove')
    .argument('<email>')
    .description("take a user's role in a workspace away (their sessions there end)")
    .option('--workspace <id>', 'workspace', DEFAULT_WORKSPACE)
    .action((email: string, opts: { workspace: string }) =>
      usersRemove(config(), output, email, opts),
    )
  users
    .command('link')
    .argument('<email>')
    .description('print a new one-time set-password link (a forgotten password)')
    .action((email: string) => usersLink(config(), output, email))
  users
    .command('disable')
    .argument('<email>')
    .description('stop a user logging in anywhere; their sessions end at once')
    .action((email: string) => usersDisable(config(), output, email, true))
  users
    .command('enable')
    .argument('<email>')
    .description('let a disabled user log in again')
    .action((email: string) => usersDisable(config(), output, email, false))

  program
    .command('import')
    .argument('<file>', 'NDJSON of Segment messages (.ndjson, .jsonl) or CSV of profiles (.csv)')
    .description('import a file; safe to run again (rows already stored are skipped)')
    .option('--workspace <id>', 'workspace to import into', DEFAULT_WORKSPACE)
    .addOption(
      new Option('--format <format>', 'file format, when the name does not tell').choices([
        'ndjson',
        'csv',
      ]),
    )
    .option('--id-column <name>', 'CSV: column holding the userId (default: userId, user_id or id)')
    .option('--email-column <name>', 'CSV: column holding the email (default: email)')
    .option('--no-infer-types', 'CSV: keep every value a string')
    .option('--batch-size <n>', 'rows per transaction', '1000')
    .option('--json', 'print the summary as JSON')
    .action(async (file: string, opts: Parameters<typeof importCommand>[3]) => {
      await importCommand(config(), output, file, opts)
    })

  program
    .command('apply')
    .description('apply segment definitions from YAML files to a running segflow (plan first)')
    .requiredOption(
      '-f, --file <path>',
      'a YAML file, or a folder of them (one segment per document)',
    )
    .option('--yes', 'apply the plan (without it, only print it)')
    .option('--prune', 'delete segments that the files do not define')
    .option('--url <url>', 'segflow to talk to (default SEGFLOW_URL, or SEGFLOW_HOST:SEGFLOW_PORT)')
    .option('--key <key>', 'admin key (default SEGFLOW_ADMIN_KEY)')
    .action(
      async (opts: {
        file: string
        yes?: boolean
        prune?: boolean
        url?: string
        key?: string
      }) => {
        await applySegments(apiTarget(env, opts), output, opts.file, opts)
      },
    )

  program
    .command('explain')
    .argument('<profile>', 'userId, anonymousId, email or profile id')
    .argument('<segment>', 'segment key')
    .description('why a person is or is not in a segment, condition by condition')
    .option('--url <url>', 'segflow to talk to (default SEGFLOW_URL, or SEGFLOW_HOST:SEGFLOW_PORT)')
    .option('--key <key>', 'admin key (default SEGFLOW_ADMIN_KEY)')
    .action(async (profile: string, segment: string, opts: { url?: string; key?: string }) => {
      await explainProfile(apiTarget(env, opts), output, profile, segment)
    })

  const privacy = program
    .command('privacy')
    .description('GDPR/CCPA rights requests: export or erase a person (needs a running segflow)')
  for (const [name, type, what] of [
    ['export', 'export', 'everything held about a person, as JSON'],
    ['erase', 'erasure', 'a person from every table; their later messages are dropped'],
  ] as const) {
    privacy
      .command(name)
      .argument('<profile>', 'userId, anonymousId, email or profile id')
      .description(what)
      .addOption(
        new Option('--regulation <law>', 'sets the due date')
          .choices(['gdpr', 'ccpa'])
          .default('gdpr'),
      )
      .option('--out <file>', 'write the export there instead of standard output')
      .option(
        '--url <url>',
        'segflow to talk to (default SEGFLOW_URL, or SEGFLOW_HOST:SEGFLOW_PORT)',
      )
      .option('--key <key>', 'admin key (default SEGFLOW_ADMIN_KEY)')
      .action(
        async (
          profile: string,
          opts: { regulation: string; out?: string; url?: string; key?: string },
        ) => {
          await privacyRequest(apiTarget(env, opts), output, type, profile, opts)
        },
      )
  }
  privacy
    .command('requests')
    .description('list rights requests with their status and due date')
    .option('--url <url>', 'segflow to talk to (default SEGFLOW_URL, or SEGFLOW_HOST:SEGFLOW_PORT)')
    .option('--key <key>', 'admin key (default SEGFLOW_ADMIN_KEY)')
    .action(async (opts: { url?: string; key?: string }) => {
      await listPrivacyRequests(apiTarget(env, opts), output)
    })

  return program
}

/** Runs the CLI; user errors print one clear line and exit 1. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv)
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has already printed the problem (or the help).
      process.exitCode = e.exitCode
      return
    }
    if (e instanceof ConfigError || e instanceof SegflowError) {
      process.stderr.write(`segflow: ${e.message}\n`)
      process.exitCode = 1
      return
    }
    const line = systemErrorLine(e, process.env)
    if (line !== null) {
      process.stderr.write(`segflow: ${line}\n`)
      process.exitCode = 1
      return
    }
    throw e
  }
}
