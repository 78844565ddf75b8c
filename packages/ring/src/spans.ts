/** Where ownership is stated once: which part of the universe each ring entry covers. */
import type { Entry, PeerId, Range } from './types.ts'

/** An entry's range, [token, next token). */
export interface Span {
  readonly entry: Entry
  /** Who acts for the entry's owner: itself, or the heir of its removal. */
  readonly owner: PeerId
  readonly range: Range
}

/**
 * The one statement of ownership: entry i owns [token i, token i+1), the last one up to the end of the
 * universe (the first token is 0, `shape.ts`). Spans come in entry order, one per entry.
 */
export function spansOf (size: bigint, entries: readonly Entry[], ownerOf: (e: Entry) => PeerId = e => e.owner): Span[] {
  const out: Span[] = []
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!
    const owner = ownerOf(entry)
    out.push({ entry, owner, range: { start: entry.token, end: entries[i + 1]?.token ?? size } })
  }
  return out
}
