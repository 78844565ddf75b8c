/** Undoing what a test made, in order, even when one part fails. */

/** Something a test made and must undo (a cluster, pods, a LAN of namespaces). */
export interface TearDown { teardown: () => Promise<void> }

/**
 * Undoes `parts` in the order given (what runs on a network before the network), each one even when
 * an earlier one failed; then throws the first failure. Parts not made (undefined) are skipped.
 */
export async function teardownInOrder (...parts: ReadonlyArray<TearDown | undefined>): Promise<void> {
  let first: unknown = null
  for (const p of parts) {
    try {
      await p?.teardown()
    } catch (err) {
      first ??= err
    }
  }
  if (first !== null) throw first
}
