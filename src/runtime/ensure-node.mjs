#!/usr/bin/env node
// Runs a command (`node src/server.ts`, `tap`, …) on a Node.js new enough for Switchboard
// (>= 22.18: TypeScript type stripping, pg-boss). When the machine's Node is older, it installs
// Node 24 once from the npm registry (package node-<platform>-<arch>@24) into a cache folder
// and puts that first on PATH for the command, so `npm install && npm start` works anywhere npm does.
// Plain JavaScript on purpose: it must run on the old Node it replaces.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { constants, homedir } from 'node:os'
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

// The shim stands in for the command, as `exec` would: a signal sent to it (by npm, a
// supervisor, or the terminal) reaches the command exactly once, and the shim exits as the
// command did. The command gets its own process group (POSIX) so that a terminal's Ctrl-C
// reaches it only through here: otherwise it would get the terminal's SIGINT and our forwarded
// copy, and the server reads a second signal as "exit now, skip the drain".
const child = spawn(command, args, { stdio: 'inherit', env, detached: process.platform !== 'win32' })
// One Ctrl-C under `npm start` arrives here twice (from the terminal, and forwarded by npm);
// copies of one signal within this window are one event.
const SAME_EVENT_MS = 100
const lastForwarded = new Map()
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    const now = Date.now()
    if (now - (lastForwarded.get(signal) ?? -Infinity) < SAME_EVENT_MS) return
    lastForwarded.set(signal, now)
    child.kill(signal)
  })
}
child.on('error', (err) => {
  process.stderr.write(`Could not run ${command}: ${err.message}\n`)
  process.exit(1)
})
// Its exit code, or 128 + the signal's number when a signal ended it (as a shell reports it).
child.on('exit', (code, signal) => {
  process.exit(code ?? 128 + (constants.signals[signal] ?? 0))
})
