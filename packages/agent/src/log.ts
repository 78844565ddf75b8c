/** Structured logging (pino, JSON lines on stdout). The swarm key never reaches a log call; redaction is a second fence. */
import { pino } from 'pino'
import type { Logger } from 'pino'
import type { LogLevel } from './config.ts'

export type { Logger }

export function createLogger (level: LogLevel, bindings: Record<string, string> = {}): Logger {
  return pino({
    level,
    base: { ...bindings },
    redact: { paths: ['psk', 'swarmKey', '*.psk', '*.swarmKey'], censor: '[redacted]' }
  })
}
