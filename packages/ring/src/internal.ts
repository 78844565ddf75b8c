/**
 * @packageDocumentation
 * `@weft/ring/internal`: the public face plus the parts inside the core, for tests and benchmarks of
 * those parts (and of code built on a ring). No shell uses these.
 */
export * from './index.ts'
export { Ring, WRITE_STEP, type Holding, type MergeResult, type ConflictEvent } from './ring.ts'
export { statesEqual, validateState } from './shape.ts'
export { Space, type ClaimResult } from './space.ts'
export { IntervalSet } from './intervals.ts'
