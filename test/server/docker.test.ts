/**
 * The image, checked without a Docker engine (none runs here): the Dockerfile and .dockerignore
 * are read, the HEALTHCHECK command is run as Docker would run it against a real HTTP server,
 * and the image's environment is fed to loadConfig.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadConfig } from '../../src/config.ts'
import { JWT_SECRET } from '../helper.ts'

const root = new URL('../../', import.meta.url).pathname
const dockerfile = readFileSync(`${root}Dockerfile`, 'utf8')

/** Instructions of the last stage (the runtime image), continuation lines joined. */
function runtimeInstructions (): Array<{ op: string, args: string }> {
  const lines = dockerfile.replace(/\\\r?\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  const instructions = lines.map((l) => { const [op = '', ...rest] = l.split(/\s+/); return { op: op.toUpperCase(), args: rest.join(' ') } })
  const lastFrom = instructions.map((i) => i.op).lastIndexOf('FROM')
  return instructions.slice(lastFrom)
}
const one = (op: string) => runtimeInstructions().filter((i) => i.op === op)

/** ENV a=b c=d … of the runtime stage. */
function imageEnv (): Record<string, string> {
  const env: Record<string, string> = {}
  for (const { args } of one('ENV')) {
    for (const pair of args.split(/\s+/)) {
      const at = pair.indexOf('=')
      if (at > 0) env[pair.slice(0, at)] = pair.slice(at + 1)
    }
  }
  return env
}

t.test('migrations are applied at start by default in the image', async (t) => {
  const env = imageEnv()
  t.equal(env.MIGRATE_ON_START, 'true')
  const config = loadConfig({ ...env, DATABASE_URL: 'postgres://db:5432/switchboard', JWT_SECRET, ENCRYPTION_KEYS: `1:${Buffer.alloc(32, 1).toString('base64')}` })
  t.match(config.database, { kind: 'postgres', migrateOnStart: true }, 'the variable is the one the config reads')
})

t.test('the HEALTHCHECK asks /readyz with node, and fails on not-ready, no answer or a hang', async (t) => {
  const [healthcheck] = one('HEALTHCHECK')
  t.ok(healthcheck, 'there is a HEALTHCHECK')
  const exec = /CMD\s+(\[.*\])\s*$/.exec(healthcheck!.args)
  t.ok(exec, 'exec form (no shell needed)')
  const [command, ...args] = JSON.parse(exec![1]!) as string[]
  t.equal(command, 'node', 'node is in the image; curl is not')

  let status = 200
  const paths: string[] = []
  const server = createServer((req, res) => {
    paths.push(req.url ?? '')
    if (status === 0) return // hang
    res.writeHead(status).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const port = (server.address() as AddressInfo).port
  const run = (p: number): Promise<number | null> => new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', PORT: String(p) }, stdio: 'ignore' })
    // A command that never gives up fails here (null) instead of holding the test for minutes.
    const stop = setTimeout(() => child.kill('SIGKILL'), 10_000)
    child.once('exit', (code) => { clearTimeout(stop); resolve(code) })
  })

  t.equal(await run(port), 0, 'ready: healthy')
  t.same(paths, ['/readyz'], 'readiness, not liveness')
  status = 503
  t.equal(await run(port), 1, 'not ready (database down, migrations pending, shutting down): unhealthy')
  status = 0
  // It gives up on its own (fetch alone waits 300 s for headers); Docker also kills it after 3 s.
  t.equal(await run(port), 1, 'a hung answer: unhealthy')
  server.close()
  t.equal(await run(port), 1, 'nothing listening: unhealthy')
})

t.test('the server is PID 1 (exec form), so docker stop\'s SIGTERM reaches it', async (t) => {
  const cmd = one('CMD')
  t.equal(cmd.length, 1)
  t.same(JSON.parse(cmd[0]!.args), ['node', 'src/server.ts'])
})

t.test('.dockerignore keeps local data, modules, history and test artifacts out of the build context', async (t) => {
  const ignored = readFileSync(`${root}.dockerignore`, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  for (const entry of ['node_modules', 'data', '.git', '.env', '.tap', 'coverage']) t.ok(ignored.includes(entry), `${entry} is ignored`)
  // Everything the image copies from the context is still sent.
  const copied = one('COPY').filter((c) => !c.args.includes('--from=')).flatMap((c) => c.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1))
  t.same(copied.sort(), ['drizzle', 'package.json', 'schema', 'src'])
  for (const path of [...copied, 'package-lock.json']) t.notOk(ignored.some((e) => e === path || e === `${path}/`), `${path} is sent`)
})
