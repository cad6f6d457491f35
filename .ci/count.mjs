// Prints a vitest JSON report's result as one plain line, `N passed, N failed, N skipped`.
// A report that is missing or unreadable counts as one failure: the run did not finish.
import { readFileSync } from 'node:fs'

let line = '0 passed, 1 failed, 0 skipped'
try {
  const r = JSON.parse(readFileSync(process.argv[2], 'utf8'))
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0)
  // Files that failed to load hold no tests: count each as a failure so it is not hidden.
  const brokenFiles = (r.testResults ?? []).filter(
    (f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0,
  ).length
  line = `${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles} failed, ${skipped} skipped`
} catch (e) {
  console.error(`no test report at ${process.argv[2]}: ${e instanceof Error ? e.message : e}`)
}
console.log(line)
