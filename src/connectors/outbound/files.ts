/**
 * Downloads of caller-given file URLs (mockups to store or publish), always through the outbound
 * guard as untrusted destinations (guard.ts: only http(s), no credentials in the URL, the address
 * connected to must be global unicast unless OUTBOUND_ALLOW_PRIVATE, redirects not followed);
 * the body is read up to CONNECTOR_FILE_MAX_BYTES and the download is aborted at the provider
 * timeout.
 */
import { basename } from 'node:path'
import { AppError } from '../../errors.ts'
import type { FileContent } from '../connector.ts'
import { OutboundRefused, type OutboundGuard } from './guard.ts'

export interface FileSource {
  fetch(url: string): Promise<FileContent>
}

export interface FileSourceOptions { maxBytes: number, timeoutMs: number, guard: OutboundGuard }

export function fileSource (opts: FileSourceOptions): FileSource {
  return {
    async fetch (raw) {
      let url: URL
      try { url = new URL(raw) } catch { throw bad(`${raw} is not a URL`) }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad('File URLs must be http(s)')
      let res: Awaited<ReturnType<OutboundGuard['fetch']>>
      try {
        // A caller's URL is never trusted, even on an origin the deployment configured for a provider.
        res = await opts.guard.fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs) }, { untrusted: true })
      } catch (err) {
        if (err instanceof OutboundRefused) throw bad('File URLs must not point at private or loopback addresses')
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
