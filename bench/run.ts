/**
 * `npm run bench` runs every `bench/<name>.bench.ts`; `npm run bench -- <name> […]` runs those.
 * Each benchmark runs in its own child process (`node bench/<name>.bench.ts`) and prints one
 * markdown section to stdout; this prints them as they finish, then a summary table of every
 * row that has a target, and writes bench/RESULTS.md: one section per benchmark, with the date,
 * Node version, CPU count and exact commands of the run that produced it. A section is keyed by
 * the benchmark's name and its first heading, so running one benchmark replaces only its own
 * section, and a run whose heading names another setting (e.g. "Switchboard on PostgreSQL")
 * sits beside the default one.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { arch, availableParallelism, cpus, platform, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { table } from './lib/report.ts'

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url))
const RESULTS = `${BENCH_DIR}RESULTS.md`
const SUFFIX = '.bench.ts'

const available = readdirSync(BENCH_DIR).filter((f) => f.endsWith(SUFFIX)).map((f) => f.slice(0, -SUFFIX.length)).sort()
const wanted = process.argv.slice(2).map((a) => a.replace(/^bench\//, '').replace(/\.bench\.ts$/, ''))
const unknown = wanted.filter((w) => !available.includes(w))
if (unknown.length > 0) {
  process.stderr.write(`Unknown benchmark(s): ${unknown.join(', ')}. Available: ${available.join(', ')}\n`)
  process.exit(2)
}
const names = wanted.length > 0 ? wanted : available

/** The knobs set for this run, so the recorded command reproduces it. */
const knobs = Object.entries(process.env).filter(([k, v]) => k.startsWith('BENCH_') && v !== undefined && v !== '')
  .map(([k, v]) => `${k}=${k === 'BENCH_DATABASE_URL' ? redactUrl(v!) : v!}`)
const command = `${knobs.length > 0 ? knobs.join(' ') + ' ' : ''}npm run bench${wanted.length > 0 ? ` -- ${wanted.join(' ')}` : ''}`

function redactUrl (u: string): string {
  try { const url = new URL(u); url.password = url.password === '' ? '' : '***'; return url.toString() } catch { return u }
}

const machine = (): string => {
  const model = cpus()[0]?.model.trim() ?? 'unknown CPU'
  return `Node ${process.version}, ${availableParallelism()} CPUs (${model}), ${platform()} ${arch()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`
}

interface Outcome { name: string, markdown: string, code: number, seconds: number, at: string }

function runOne (name: string): Promise<Outcome> {
  const at = new Date().toISOString()
  const t0 = Date.now()
  process.stderr.write(`\n▶ node bench/${name}${SUFFIX}\n`)
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`${BENCH_DIR}${name}${SUFFIX}`], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => { out += chunk })
    child.on('close', (code, signal) => {
      let markdown = out.trim()
      const status = code ?? (signal !== null ? 128 : 1)
      if (status !== 0) markdown += `${markdown === '' ? `## ${name}\n\n` : '\n\n'}**Failed** (exit ${code ?? signal}); see the run's stderr.`
      process.stdout.write(`\n${markdown}\n`)
      resolve({ name, markdown, code: status, seconds: (Date.now() - t0) / 1000, at })
    })
  })
}

// ---- RESULTS.md: one marked section per benchmark, replaced when that benchmark runs again ----

const sectionRe = /<!-- bench:([\w/.-]+) -->\n([\s\S]*?)\n<!-- \/bench:\1 -->/g

function sectionKey (o: Outcome): string {
  const heading = /^#+\s*(.+)$/m.exec(o.markdown)?.[1] ?? ''
  const slug = heading.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 80)
  return slug === '' ? o.name : `${o.name}/${slug}`
}

function readSections (): Map<string, string> {
  const sections = new Map<string, string>()
  if (!existsSync(RESULTS)) return sections
  for (const m of readFileSync(RESULTS, 'utf8').matchAll(sectionRe)) sections.set(m[1]!, m[2]!)
  return sections
}

function sectionText (o: Outcome): string {
  return [
    `_Run ${o.at} on ${machine()}; ${o.seconds.toFixed(0)} s${o.code === 0 ? '' : `; **exit ${o.code}**`}._`,
    `_Command: \`${command}\` → \`node bench/${o.name}${SUFFIX}\`._`,
    '',
    o.markdown
  ].join('\n')
}

/** Rows of every markdown table whose header has a "Target" column with something in it. */
function targetRows (name: string, markdown: string): string[][] {
  const rows: string[][] = []
  const split = (line: string): string[] => line.trim().replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((c) => c.trim())
  const lines = markdown.split('\n')
  let heading = name
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.startsWith('#')) heading = line.replace(/^#+\s*/, '')
    if (!line.trim().startsWith('|') || !(lines[i + 1]?.trim().startsWith('|---') ?? false)) continue
    const header = split(line)
    const t = header.findIndex((h) => /target/i.test(h))
    i += 2
    for (; i < lines.length && lines[i]!.trim().startsWith('|'); i++) {
      const cells = split(lines[i]!)
      const target = cells[t] ?? ''
      // Rows that state a check (✅/❌, ≥, <, pass/fail); "baseline", "no target; …" and notes are left out.
      if (t === -1 || !/[✅❌⚠≥≤<>]|\b(pass|fail|met|missed)\b/i.test(target)) continue
      const label = header.length > 2 && /path|variant/i.test(header[1] ?? '') ? `${cells[0]} — ${cells[1]}` : cells[0]!
      rows.push([heading, label, target])
    }
    i--
  }
  return rows
}

const outcomes: Outcome[] = []
for (const name of names) outcomes.push(await runOne(name))

const sections = readSections()
for (const o of outcomes) sections.set(sectionKey(o), sectionText(o))
const ordered = [...sections.keys()].sort()
const summary = ordered.flatMap((n) => targetRows(n.split('/')[0]!, sections.get(n)!))
const summaryTable = summary.length > 0 ? table(['Benchmark', 'Row', 'Target'], summary) : '_No targets reported._'

process.stdout.write(`\n## Summary: every row with a target\n\n${table(['Benchmark', 'Row', 'Target'], outcomes.flatMap((o) => targetRows(o.name, o.markdown)))}\n`)

writeFileSync(RESULTS, [
  '# Benchmark results',
  '',
  'Written by `npm run bench` (bench/run.ts). Each section is replaced when its benchmark runs again; the lines under it say when, on what, and with which command. ' +
  'The machines are shared and noisy: compare the ratios measured within a run, not absolute figures across runs.',
  '',
  `Last run: ${new Date().toISOString()}, \`${command}\`, ${machine()}.`,
  '',
  '## Summary: every row with a target',
  '',
  summaryTable,
  '',
  ...ordered.flatMap((n) => [`<!-- bench:${n} -->`, sections.get(n)!, `<!-- /bench:${n} -->`, '']),
].join('\n'))
process.stderr.write(`\nWrote ${RESULTS}\n`)
process.exit(outcomes.some((o) => o.code !== 0) ? 1 : 0)
