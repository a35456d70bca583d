/**
 * Summarises a V8 .cpuprofile (what `node --cpu-prof` writes, or the inspector's Profiler.stop):
 * the functions and the packages with the most self time. Idle time is left out of the shares.
 */
import { readFileSync } from 'node:fs'
import { fmtNum, table } from './report.ts'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
  children?: number[]
}
interface Profile { nodes: ProfileNode[], samples?: number[], timeDeltas?: number[] }

const ROOT = new URL('../../', import.meta.url).href

function shortUrl (url: string): string {
  if (url.startsWith(ROOT)) url = url.slice(ROOT.length)
  else if (url.startsWith('file://')) url = url.slice('file://'.length)
  const nm = url.lastIndexOf('node_modules/')
  return nm === -1 ? url : url.slice(nm + 'node_modules/'.length)
}

function area (url: string): string {
  if (url === '') return '(native / VM)'
  if (url.startsWith('node:')) return 'node: internals'
  const short = shortUrl(url)
  if (short.startsWith('src/')) return short
  if (url.includes('node_modules/')) {
    const [a, b] = short.split('/')
    return a?.startsWith('@') === true ? `${a}/${b}` : a ?? short
  }
  return short
}

export interface ProfileSummary { totalMs: number, busyMs: number, markdown: string }

export function summariseProfile (file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  for (let i = 0; i < samples.length; i++) {
    // A sample's time is the gap to the next one.
    const d = deltas[i + 1] ?? 0
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, d))
  }
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const keyOf = (n: ProfileNode): string => {
    const { functionName, url, lineNumber } = n.callFrame
    return url === '' ? (functionName || '(anonymous)') : `${functionName || '(anonymous)'} — ${shortUrl(url)}:${lineNumber + 1}`
  }
  const fns = new Map<string, number>()
  const areas = new Map<string, number>()
  // Inclusive (self + synchronous callees) time of project functions; each counted once per stack.
  const inclusive = new Map<string, number>()
  let total = 0
  let idle = 0
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!
    const { functionName, url } = node.callFrame
    total += us
    if (functionName === '(idle)') { idle += us; continue }
    const key = keyOf(node)
    fns.set(key, (fns.get(key) ?? 0) + us)
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!
      if (!n.callFrame.url.startsWith(ROOT + 'src/')) continue
      const k = keyOf(n)
      if (seen.has(k)) continue
      seen.add(k)
      inclusive.set(k, (inclusive.get(k) ?? 0) + us)
    }
    const a = area(url)
    areas.set(a, (areas.get(a) ?? 0) + us)
  }
  const busy = total - idle
  const pct = (us: number): string => `${fmtNum((us / busy) * 100, 1)} %`
  const topOf = (m: Map<string, number>): Array<[string, number]> => [...m].sort((x, y) => y[1] - x[1]).slice(0, top)
  const markdown = [
    `Busy ${fmtNum(busy / 1000, 0)} ms of ${fmtNum(total / 1000, 0)} ms sampled; shares are of busy time.`,
    '',
    table(['Function (self time)', 'Share'], topOf(fns).map(([k, v]) => [`\`${k}\``, pct(v)])),
    '',
    table(['Package / file (self time)', 'Share'], topOf(areas).map(([k, v]) => [`\`${k}\``, pct(v)])),
    '',
    table(['Project function (inclusive: self + synchronous callees)', 'Share'], topOf(inclusive).map(([k, v]) => [`\`${k}\``, pct(v)]))
  ].join('\n')
  return { totalMs: total / 1000, busyMs: busy / 1000, markdown }
}
