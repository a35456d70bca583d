/** A loopback file host for mockup images: GET /files/<name> answers bytes of a given size (PNG header first). */
import { FakeServer } from './base.ts'

export const PNG_HEADER = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

export function pngBytes (size: number): Buffer {
  const b = Buffer.alloc(size, 7)
  PNG_HEADER.copy(b)
  return b
}

export interface FileHost { server: FakeServer, files: Map<string, Buffer>, url(name: string): string, close(): Promise<void> }

export async function startFileHost (): Promise<FileHost> {
  const files = new Map<string, Buffer>()
  const server = new FakeServer()
  server.route('GET', '/files/{name}', (req) => {
    const f = files.get(decodeURIComponent(req.path.slice('/files/'.length)))
    return f === undefined ? { status: 404, body: 'not found' } : { status: 200, body: f, headers: { 'content-type': 'image/png' } }
  })
  await server.start()
  return { server, files, url: (name) => `${server.origin}/files/${encodeURIComponent(name)}`, close: () => server.close() }
}
