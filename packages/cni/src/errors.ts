/** The spec's error codes (CNI 1.1.0 plus libcni's 8 and 999) that this plugin emits. */
export const CniCode = {
  incompatibleVersion: 1,
  unknownContainer: 3,
  invalidEnv: 4,
  decode: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  notAvailable: 50,
  internal: 999
} as const
export type CniCode = typeof CniCode[keyof typeof CniCode]

/** A failure the plugin reports as CNI error JSON on stdout. */
export class CniError extends Error {
  override readonly name = 'CniError'
  readonly code: CniCode
  readonly details: string
  constructor (code: CniCode, msg: string, details = '') {
    super(msg)
    this.code = code
    this.details = details
  }
}

/** The error object of the spec: `{cniVersion, code, msg, details}`. */
export interface CniErrorJson {
  cniVersion: string
  code: number
  msg: string
  details?: string
}

export function errorJson (err: CniError, cniVersion: string): CniErrorJson {
  const json: CniErrorJson = { cniVersion, code: err.code, msg: err.message }
  if (err.details !== '') json.details = err.details
  return json
}
