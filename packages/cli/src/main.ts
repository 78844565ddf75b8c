import { run } from './run.ts'

const print = (stream: NodeJS.WriteStream) => (text: string): void => {
  if (text !== '') stream.write(text.endsWith('\n') ? text : text + '\n')
}

process.exitCode = await run(process.argv.slice(2), process.env, { out: print(process.stdout), err: print(process.stderr) })
