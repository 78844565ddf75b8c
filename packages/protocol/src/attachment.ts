/**
 * The rules for the three parts of a CNI attachment, one set for the agent and the CNI library. Pure.
 * libcni checks the network name and the container id with the same pattern; the interface name is
 * what Linux accepts.
 */
import { Buffer } from 'node:buffer'
import type { Attachment } from './types.ts'

/** The CNI spec's pattern for network names and container ids (libcni's ValidateNetworkName and ValidateContainerID). */
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/
/** A Kubernetes object name (a NetworkAttachmentDefinition's, say) is at most 253 characters. */
const MAX_NETWORK_NAME = 253
const MAX_CONTAINER_ID = 256
/** IFNAMSIZ - 1: the kernel's limit, in bytes. */
const MAX_IFNAME_BYTES = 15

export type AttachmentField = keyof Attachment

const shown = (value: string): string => JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value)

/** What is wrong with one part of an attachment, or null when it is fine. The text starts with the value. */
export function fieldProblem (field: AttachmentField, value: string): string | null {
  switch (field) {
    case 'network': return nameProblem(value, MAX_NETWORK_NAME, 'a network name')
    case 'containerId': return nameProblem(value, MAX_CONTAINER_ID, 'a container id')
    case 'ifname': return ifnameProblem(value)
  }
}

function nameProblem (value: string, max: number, what: string): string | null {
  if (value.length > max) return `${shown(value)} is not ${what}: longer than ${max} characters`
  if (!NAME_PATTERN.test(value)) return `${shown(value)} is not ${what}: it must match ${NAME_PATTERN.source}`
  return null
}

function ifnameProblem (value: string): string | null {
  const why = value === ''
    ? 'empty'
    : Buffer.byteLength(value, 'utf8') > MAX_IFNAME_BYTES // counted, not encoded: the name is checked on every request
      ? `longer than ${MAX_IFNAME_BYTES} bytes`
      : value === '.' || value === '..'
        ? 'must not be "." or ".."'
        : /[/:\s]/.test(value) ? 'must not contain "/", ":" or whitespace' : null
  return why === null ? null : `${shown(value)} is not a Linux interface name: ${why}`
}
