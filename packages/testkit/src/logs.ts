/** Agents' JSON log lines, for assertions on fields rather than wording. */
import type { AgentProcess } from './agents.ts'

/** One line of an agent's log (pino JSON): `event` names what happened, whatever the wording of `msg`. */
export interface LogLine {
  readonly event?: string
  readonly msg?: string
  readonly time?: number
  readonly [field: string]: unknown
}

/** An agent's log as parsed JSON lines, for assertions on fields rather than wording; other lines (a fatal exit's one line on stderr) are left out. */
export function logLines (agent: AgentProcess): LogLine[] {
  return parseLogLines(agent.output)
}

/** Log lines (pino JSON) as objects, from a process or an in-process logger's destination; lines that are not JSON objects are left out. */
export function parseLogLines (lines: readonly string[]): LogLine[] {
  return lines.flatMap(line => {
    try {
      const parsed: unknown = JSON.parse(line)
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? [parsed as LogLine] : []
    } catch {
      return []
    }
  })
}

/** The agent's log lines of one `event`. */
export function logEvents (agent: AgentProcess, event: string): LogLine[] {
  return logLines(agent).filter(l => l.event === event)
}
