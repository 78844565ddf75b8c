/** Entry point: `node packages/agent/src/main.ts`, configured by the environment. */
import { runAgentMain } from './run.ts'

process.exit(await runAgentMain(process.env))
