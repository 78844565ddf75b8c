/**
 * @packageDocumentation
 * weft's data plane: a pure planner (ring ownership and node addresses in, routes, VXLAN entries and
 * proxy-ARP settings out), the diff against the kernel, a thin iproute2 executor and the reconcile loop.
 */
export * from './types.ts'
export { linkLocalOf, plan, vtepMac, type PlanInput, type PoolRing } from './plan.ts'
export { Kernel, type Failure, type KernelOptions } from './kernel.ts'
export { Reconciler, type ReconcilerOptions, type RouteLog, type RouteStats } from './reconciler.ts'
