#!/usr/bin/env node
// Runs a command (`node src/server.ts`, `tap`, …) on a Node.js new enough for Switchboard
// (>= 22.18: TypeScript type stripping, pg-boss). When the machine's Node is older, it installs
// Node 24 once from the npm registry (package node-<platform>-<arch>@24) into a cache folder
// and puts that first on PATH for the command, so `npm install && npm start` works anywhere npm does.
// Plain JavaScript on purpose: it must run on the old Node it replaces.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

const MIN = [22, 18]
const [major, minor] = process.versions.node.split('.').map(Number)
const newEnough = major > MIN[0] || (major === MIN[0] && minor >= MIN[1])

const [command, ...args] = process.argv.slice(2)
if (command === undefined) {
  process.stderr.write('usage: ensure-node.mjs <command> [args…]\n')
  process.exit(2)
}

const env = { ...process.env }
if (!newEnough) {
  const cache = process.env.SWITCHBOARD_NODE_CACHE ?? join(homedir(), '.cache', 'switchboard-node')
  const pkg = `node-${process.platform}-${process.arch}`
  const bin = join(cache, 'node_modules', pkg, 'bin')
  if (!existsSync(join(bin, 'node'))) {
    process.stderr.write(`Node ${process.versions.node} is older than ${MIN.join('.')}; installing Node 24 (${pkg}@24 from the npm registry) into ${cache} …\n`)
    const r = spawnSync('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', cache, `${pkg}@24`], { stdio: 'inherit' })
    if (r.status !== 0 || !existsSync(join(bin, 'node'))) {
      process.stderr.write(`Could not install ${pkg}@24. Install Node.js 24 LTS and run this again.\n`)
      process.exit(1)
    }
  }
  env.PATH = `${bin}:${env.PATH ?? ''}`
}

const child = spawn(command, args, { stdio: 'inherit', env })
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal))
}
child.on('error', (err) => {
  process.stderr.write(`Could not run ${command}: ${err.message}\n`)
  process.exit(1)
})
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal === null ? 1 : 128 + (signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 1)))
})
