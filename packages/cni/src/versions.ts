/** The CNI spec versions this plugin speaks, oldest first. A config names exactly one of them. */
export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const
export type CniVersion = typeof SUPPORTED_VERSIONS[number]

export const LATEST_VERSION: CniVersion = '1.1.0'
/** The spec treats a config without `cniVersion` as 0.1.0. */
export const DEFAULT_VERSION: CniVersion = '0.1.0'

export function isSupportedVersion (v: string): v is CniVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v)
}

export function versionAtLeast (v: CniVersion, min: CniVersion): boolean {
  return SUPPORTED_VERSIONS.indexOf(v) >= SUPPORTED_VERSIONS.indexOf(min)
}
