import { join } from 'node:path'
import { Level } from 'level'

/** Every key in the store of a stopped agent's data dir, in key order (the store is opened and closed again). */
export async function storeKeys (dataDir: string): Promise<string[]> {
  const db = new Level<string, Uint8Array>(join(dataDir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' })
  try {
    return await db.keys().all()
  } finally {
    await db.close()
  }
}
