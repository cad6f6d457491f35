import { parseRole } from '../users/user-service.js'
import type { Config } from './config.js'
import { table, withRuntime } from './commands.js'
import type { Output } from './commands.js'

/**
 * `segflow users create EMAIL --workspace W --role R`: makes the user with that role and
 * prints a one-time link (valid 24 h) where they set their password.
 */
export async function usersCreate(
  config: Config,
  o: Output,
  email: string,
  opts: { workspace: string; role: string; json?: boolean },
): Promise<void> {
  const role = parseRole(opts.role, '--role')
  await withRuntime(config, async (rt) => {
    const out = await rt.users.invite({
      email,
      workspaceId: opts.workspace,
      role,
      actor: 'cli',
      mustBeNew: true,
    })
    const link = out.link!
    if (opts.json) {
      o.out(JSON.stringify({ ...out.user, workspace: opts.workspace, setPasswordUrl: link.url }))
      return
    }
    o.out(`Created user ${out.user.email}, ${role} of workspace ${opts.workspace}.`)
    o.out(`They set their password here (once, until ${link.expiresAt}):`)
    o.out(`  ${link.url}`)
  })
}

/** `segflow users link EMAIL`: a new set-password link (earlier ones stop working). */
export async function usersLink(config: Config, o: Output, email: string): Promise<void> {
  await withRuntime(config, async (rt) => {
    const link = await rt.users.link(email)
    o.out(`Set-password link for ${email} (once, until ${link.expiresAt}):`)
    o.out(`  ${link.url}`)
  })
}

export async function usersList(
  config: Config,
  o: Output,
  opts: { workspace?: string; json?: boolean },
): Promise<void> {
  await withRuntime(config, async (rt) => {
    const all = (await rt.users.listAll()).filter(
      (u) => opts.workspace === undefined || u.roles[opts.workspace] !== undefined,
    )
    if (opts.json) {
      o.out(JSON.stringify(all))
      return
    }
    if (all.length === 0) {
      o.out(opts.workspace ? `no users in workspace ${opts.workspace}` : 'no users')
      return
    }
    const rows = [['EMAIL', 'ROLES', 'PASSWORD', 'STATUS', 'CREATED']]
    for (const u of all)
      rows.push([
        u.email,
        Object.entries(u.roles)
          .map(([ws, r]) => `${ws}:${r}`)
          .join(',') || '-',
        u.passwordSet ? 'set' : 'not set',
        u.disabled ? 'disabled' : 'active',
        u.createdAt.replace('.000Z', 'Z'),
      ])
    for (const line of table(rows)) o.out(line)
  })
}

export async function usersRole(
  config: Config,
  o: Output,
  email: string,
  opts: { workspace: string; role: string },
): Promise<void> {
  const role = parseRole(opts.role, '--role')
  await withRuntime(config, async (rt) => {
    const u = await rt.users.setRole({ email, workspaceId: opts.workspace, role, actor: 'cli' })
    o.out(
      `${u.email} is now ${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role} of workspace ${opts.workspace}.`,
    )
  })
}

export async function usersRemove(
  config: Config,
  o: Output,
  email: string,
  opts: { workspace: string },
): Promise<void> {
  await withRuntime(config, async (rt) => {
    await rt.users.remove(email, opts.workspace, 'cli')
    o.out(`Removed ${email} from workspace ${opts.workspace}; their sessions there ended.`)
  })
}

export async function usersDisable(
  config: Config,
  o: Output,
  email: string,
  disabled: boolean,
): Promise<void> {
  await withRuntime(config, async (rt) => {
    const u = await rt.users.setDisabled(email, disabled)
    o.out(
      disabled
        ? `Disabled ${u.email}: they cannot log in, and their sessions ended.`
        : `Enabled ${u.email} again.`,
    )
  })
}
