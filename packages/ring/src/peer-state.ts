/** One peer's whole state: the shared core and each part's own. Only peer.ts, status and checks see it all. */
import type { AllocationState } from './allocation.ts'
import type { Core } from './core.ts'
import type { DonationState } from './donation.ts'
import type { InitState } from './init.ts'
import type { NodeInitState } from './node-init.ts'
import type { Takeovers } from './takeover.ts'
import type { VotingState } from './voting.ts'

export interface PeerState<P = unknown> extends Core {
  readonly allocation: AllocationState<P>
  readonly donation: DonationState
  readonly initState: InitState
  readonly nodeInit: NodeInitState
  readonly takeovers: Takeovers
  readonly voting: VotingState
}
