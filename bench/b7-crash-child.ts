/**
 * B7's crash subject: writes generated batches to a SQLite store until it is killed, printing
 * the number of events committed after each commit.
 */
import { Writer } from '../src/engine/writer.js'
import { ManualClock } from '../src/shared/clock.js'
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js'
import { benchMessages } from './b7-persist.js'

const store = new SqliteStore({ path: process.argv[2]! })
await store.migrate()
const writer = new Writer(store, new ManualClock(0))
let committed = 0
for (let seed = 1000; ; seed++) {
  const msgs = benchMessages(2_000, 20_000, seed)
  for (let i = 0; i < msgs.length; i += 100) {
    const batch = msgs.slice(i, i + 100)
    await writer.write(batch)
    committed += batch.length
    process.stdout.write(`${committed}\n`)
  }
}
