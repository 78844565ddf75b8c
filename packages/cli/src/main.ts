import { run } from './run.ts'

const print = (stream: NodeJS.WriteStream) => (text: string): void => {
  if (text !== '') stream.write(text.endsWith('\n') ? text : text + '\n')
}

const code = await run(process.argv.slice(2), process.env, { out: print(process.stdout), err: print(process.stderr) })
// Exit once stdout has drained: `weft agent` may leave handles behind after its clean stop.
process.stdout.write('', () => process.exit(code))
