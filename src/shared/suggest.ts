/** Edit distance (Levenshtein), for "did you mean" on misspelt names. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length]!
}

/**
 * The option closest to `name` when it is close enough to be a slip (a third of its letters
 * at most), else null.
 * @example
 * closestName('analytic', ['analytics', 'email_marketing']) // 'analytics'
 */
export function closestName(name: string, options: readonly string[]): string | null {
  const best = options
    .map((o) => [o, editDistance(name.toLowerCase(), o.toLowerCase())] as const)
    .filter(([, d]) => d <= Math.max(1, Math.floor(name.length / 3)))
    .sort((a, b) => a[1] - b[1])[0]
  return best ? best[0] : null
}
