/**
 * Downloads of caller-given file URLs (mockups to store or publish). Only http(s); redirects are
 * not followed; the host must not resolve to a loopback, private, link-local or metadata
 * address unless OUTBOUND_ALLOW_PRIVATE (tests, local development); the body is read up
 * to CONNECTOR_FILE_MAX_BYTES and the download is aborted at the provider timeout.
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { basename } from 'node:path'
import { AppError } from '../../errors.ts'
import type { FileContent } from '../connector.ts'

export interface FileSource {
  fetch(url: string): Promise<FileContent>
}

export interface FileSourceOptions { maxBytes: number, allowPrivate: boolean, timeoutMs: number }

export function fileSource (opts: FileSourceOptions): FileSource {
  return {
    async fetch (raw) {
      let url: URL
      try { url = new URL(raw) } catch { throw bad(`${raw} is not a URL`) }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad('File URLs must be http(s)')
      if (!opts.allowPrivate) await refusePrivate(url.hostname)
      let res: Response
      try {
        res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(opts.timeoutMs) })
      } catch (err) {
        throw new AppError('NETWORK_ERROR', `The file at ${url.host} could not be downloaded`, { cause: err })
      }
      if (res.status !== 200 || res.body === null) throw bad(`The file URL answered HTTP ${res.status}`)
      const declared = Number(res.headers.get('content-length') ?? NaN)
      if (declared > opts.maxBytes) throw bad(`The file is larger than ${opts.maxBytes} bytes`)
      const chunks: Uint8Array[] = []
      let size = 0
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength
        if (size > opts.maxBytes) throw bad(`The file is larger than ${opts.maxBytes} bytes`)
        chunks.push(chunk)
      }
      const name = decodeURIComponent(basename(url.pathname)) || 'file'
      return { name, mimeType: (res.headers.get('content-type') ?? 'application/octet-stream').split(';')[0]!.trim(), bytes: Buffer.concat(chunks) }
    }
  }
}

const bad = (message: string) => new AppError('BAD_USER_INPUT', message, { details: { field: 'fileUrls' } })

async function refusePrivate (host: string): Promise<void> {
  const h = host.replace(/^\[|\]$/g, '')
  const addresses = isIP(h) !== 0 ? [h] : (await lookup(h, { all: true }).catch(() => [])).map((a) => a.address)
  if (addresses.length === 0) throw bad(`${host} does not resolve`)
  if (addresses.some(isPrivate)) throw bad('File URLs must not point at private or loopback addresses')
}

export function isPrivate (ip: string): boolean {
  if (ip.includes(':')) {
    const v = ip.toLowerCase()
    if (v.startsWith('::ffff:')) return isPrivate(v.slice(7))
    return v === '::1' || v === '::' || v.startsWith('fc') || v.startsWith('fd') || v.startsWith('fe80')
  }
  const [a, b] = ip.split('.').map(Number) as [number, number]
  return a === 10 || a === 127 || a === 0 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127)
}
