/**
 * The disk's own fsync latency, the anchor for a synced store batch: small appends, each followed by
 * fdatasync, on the filesystem of the agent's data dir, as LevelDB's log does for a synced batch.
 */
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'

/** Latencies (ms, sorted) of `count` 100-byte appends each made durable with fdatasync, in `dir`. */
export async function writeDatasyncLatencies (dir: string, count: number): Promise<number[]> {
  const path = join(dir, 'fdatasync-probe')
  const file = await open(path, 'a')
  const record = Buffer.alloc(100, 0x5a)
  const latencies: number[] = []
  try {
    for (let i = 0; i < count; i++) {
      const t = performance.now()
      await file.write(record)
      await file.datasync()
      latencies.push(performance.now() - t)
    }
  } finally {
    await file.close()
    await rm(path, { force: true })
  }
  return latencies.sort((a, b) => a - b)
}
