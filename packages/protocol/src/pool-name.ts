/**
 * The rules for a pool's name, one set for the agent's configuration, the socket API and the CNI
 * library. Pure. A pool name is a DNS label: it can name a Kubernetes object and a metric label.
 */

/** Lowercase letters, digits and '-', starting and ending with a letter or digit. */
export const POOL_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/
export const MAX_POOL_NAME = 63

/** The pool of `IPALLOC_RANGE`'s first CIDR; its second (the other family) is `default-v6` or `default-v4`. */
export const DEFAULT_POOL = 'default'

/** What is wrong with `value` as a pool name, or null when it is one. The text starts with the value. */
export function poolNameProblem (value: string): string | null {
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value)
  if (value.length > MAX_POOL_NAME) return `${shown} is not a pool name: longer than ${MAX_POOL_NAME} characters`
  if (!POOL_NAME_PATTERN.test(value)) return `${shown} is not a pool name: lowercase letters, digits and "-", starting and ending with a letter or digit`
  return null
}
