import t from 'tap'
import { googleDriveStorage } from '../../src/connectors/providers/google-drive.connector.ts'
import { dropboxStorage } from '../../src/connectors/providers/dropbox.connector.ts'
import type { DriveFake } from '../fakes/google-drive.ts'
import type { DropboxFake } from '../fakes/dropbox.ts'
import { pngBytes, startFileHost } from '../fakes/files.ts'
import { run, setup, waitForRun } from './connector-helper.ts'

const SAVE = 'mutation($id: ID!, $urls: [String!]!, $folder: String) { saveToCloudStorage(integrationId: $id, fileUrls: $urls, folder: $folder) { id status } }'

t.test('storage connectors: Google Drive and Dropbox', async (t) => {
  const s = await setup(t)
  const host = await startFileHost()
  t.teardown(() => host.close())
  host.files.set('mockup-1.png', pngBytes(2048))
  host.files.set('mockup 2.png', pngBytes(3000))
  const drive = s.fakes.google_drive as DriveFake
  const dropbox = s.fakes.dropbox as DropboxFake
  const driveId = await s.connectTo('google_drive')
  const dropboxId = await s.connectTo('dropbox')
  const principal = { kind: 'api_key' as const, teamId: s.teamId, scopes: ['admin:full'] }

  await t.test('drive: create_folder reuses an existing folder; list_folders follows pageToken', async (t) => {
    const a = await run(s, driveId, 'create_folder', { name: 'Mockups' })
    const b = await run(s, driveId, 'create_folder', { name: 'Mockups' })
    if ('errors' in a || 'errors' in b) throw new Error('errors')
    t.equal(a.data.folder.name, 'Mockups')
    t.equal(b.data.folder.id, a.data.folder.id, 'same folder the second time')
    for (let i = 0; i < 230; i++) drive.files.set(`f${i}`, { id: `f${i}`, name: `Folder ${i}`, mimeType: 'application/vnd.google-apps.folder', parents: ['root-id'], size: 0, content: null })
    const before = drive.server.count('GET /drive/v3/files')
    const list = await run(s, driveId, 'list_folders', {})
    if ('errors' in list) throw new Error('errors')
    t.equal(list.data.folders.length, 231)
    t.equal(drive.server.count('GET /drive/v3/files') - before, 3, 'three pages of 100')
    const capped = await run(s, driveId, 'list_folders', { max: 150 })
    t.equal(!('errors' in capped) && capped.data.folders.length, 150, 'stops fetching at max')
  })

  await t.test('dropbox: create_folder handles the 409 conflict; list_folders follows cursor/has_more', async (t) => {
    const a = await run(s, dropboxId, 'create_folder', { path: '/Mockups' })
    const b = await run(s, dropboxId, 'create_folder', { path: '/Mockups' })
    if ('errors' in a || 'errors' in b) throw new Error(JSON.stringify(b))
    t.equal(a.data.folder.path, '/Mockups')
    t.equal(b.success, true, '409 path/conflict/folder → the existing folder')
    t.equal(b.data.folder.path, '/Mockups')
    for (const n of ['A', 'B', 'C', 'D']) await run(s, dropboxId, 'create_folder', { path: `/${n}` })
    dropbox.pageSize = 2
    const before = dropbox.server.count('POST /2/files/list_folder/continue')
    const list = await run(s, dropboxId, 'list_folders', {})
    dropbox.pageSize = 100
    if ('errors' in list) throw new Error('errors')
    t.same(list.data.folders.map((f: { name: string }) => f.name).sort(), ['A', 'B', 'C', 'D', 'Mockups'])
    t.equal(dropbox.server.count('POST /2/files/list_folder/continue') - before, 2, 'two continue calls')
  })

  await t.test('upload_file (background run) and get_account on both', async (t) => {
    const d = await run(s, driveId, 'upload_file', { fileUrls: [host.url('mockup-1.png')], folder: 'Uploads' })
    if ('errors' in d) throw new Error(JSON.stringify(d.errors))
    const dr = await waitForRun(s, d.run!.id)
    t.equal(dr.status, 'SUCCEEDED')
    t.equal(dr.result.files[0].name, 'mockup-1.png')
    const stored = drive.files.get(dr.result.files[0].id)!
    t.ok(stored.content!.equals(pngBytes(2048)), 'exact bytes, multipart')
    t.equal(stored.mimeType, 'image/png')
    t.same(stored.parents, [dr.result.folder.id])
    const x = await run(s, dropboxId, 'upload_file', { fileUrls: [host.url('mockup 2.png')], folder: 'Uploads' })
    if ('errors' in x) throw new Error('errors')
    const xr = await waitForRun(s, x.run!.id)
    t.equal(xr.status, 'SUCCEEDED')
    t.equal(xr.result.files[0].path, '/Uploads/mockup 2.png')
    t.ok(dropbox.entries.get('/uploads/mockup 2.png')!.content!.equals(pngBytes(3000)))
    const da = await run(s, driveId, 'get_account', {})
    t.same(!('errors' in da) && da.data.rootFolder, { id: 'root-id', name: 'My Drive' })
    const xa = await run(s, dropboxId, 'get_account', {})
    t.equal(!('errors' in xa) && xa.data.used, 314)
  })

  await t.test('saveToCloudStorage works for either storage provider through the capability', async (t) => {
    for (const [id, check] of [
      [driveId, (r: any) => t.ok([...drive.files.values()].some((f) => f.id === r.files[1].id && f.parents[0] === r.folder.id), 'drive: in the folder')],
      [dropboxId, (r: any) => t.ok(dropbox.entries.has('/campaign/mockup 2.png'), 'dropbox: in the folder')]
    ] as const) {
      const res = await s.app.gql(SAVE, { auth: s.adminKey, variables: { id, urls: [host.url('mockup-1.png'), host.url('mockup 2.png')], folder: 'Campaign' } })
      t.equal(res.body.errors, undefined)
      const done = await waitForRun(s, res.body.data!.saveToCloudStorage.id)
      t.equal(done.status, 'SUCCEEDED')
      t.same(done.progress, { done: 2, total: 2 })
      t.equal(done.result.files.length, 2)
      check(done.result)
    }
    const slack = await s.connectTo('slack')
    const notStorage = await s.app.gql(SAVE, { auth: s.adminKey, variables: { id: slack, urls: [host.url('mockup-1.png')] } })
    t.equal(notStorage.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', 'a non-storage integration is refused')
    const missingFile = await s.app.gql(SAVE, { auth: s.adminKey, variables: { id: driveId, urls: [host.url('nope.png')] } })
    const failed = await waitForRun(s, missingFile.body.data!.saveToCloudStorage.id)
    t.equal(failed.status, 'FAILED')
    t.equal(failed.error.code, 'BAD_USER_INPUT')
  })

  await t.test('file URLs pointing at private addresses are refused unless allowed', async (t) => {
    const { fileSource } = await import('../../src/connectors/outbound/files.ts')
    const { OutboundGuard } = await import('../../src/connectors/outbound/guard.ts')
    const [strictGuard, openGuard] = [new OutboundGuard({ allowPrivate: false }), new OutboundGuard({ allowPrivate: true })]
    t.teardown(() => Promise.all([strictGuard.close(), openGuard.close()]))
    const strict = fileSource({ maxBytes: 1024 * 1024, timeoutMs: 1000, guard: strictGuard })
    await t.rejects(strict.fetch(host.url('mockup-1.png')), { code: 'BAD_USER_INPUT' })
    await t.rejects(strict.fetch('http://169.254.169.254/latest/meta-data'), { code: 'BAD_USER_INPUT' })
    await t.rejects(strict.fetch('file:///etc/passwd'), { code: 'BAD_USER_INPUT' })
    const small = fileSource({ maxBytes: 1000, timeoutMs: 1000, guard: openGuard })
    await t.rejects(small.fetch(host.url('mockup-1.png')), { code: 'BAD_USER_INPUT' }, 'larger than the limit')
  })

  await t.test('large files: Drive resumable session in 256 KiB chunks, Dropbox upload session', async (t) => {
    const big = { name: 'big.png', mimeType: 'image/png', bytes: pngBytes(600 * 1024) }
    const bd = await s.app.app.services.operations.bind(principal, driveId, 'test')
    if (!bd.ok) throw bd.error
    const gd = await googleDriveStorage({ resumableAbove: 100 * 1024, chunkBytes: 256 * 1024 }).uploadFile(bd.value.ctx, big, null)
    t.ok(drive.files.get(gd.id)!.content!.equals(big.bytes), 'drive: reassembled from 3 chunks')
    t.equal(drive.server.count('PUT /upload/drive/v3/files'), 3)
    const bx = await s.app.app.services.operations.bind(principal, dropboxId, 'test')
    if (!bx.ok) throw bx.error
    const dx = await dropboxStorage({ sessionAbove: 100 * 1024, chunkBytes: 256 * 1024 }).uploadFile(bx.value.ctx, big, null)
    t.equal(dx.path, '/big.png')
    t.ok(dropbox.entries.get('/big.png')!.content!.equals(big.bytes), 'dropbox: start + append + finish')
    t.equal(dropbox.server.count('POST /2/files/upload_session/append_v2'), 1)
  })

  await t.test('Drive 403 userRateLimitExceeded is retried with backoff', async (t) => {
    drive.quota(1)
    const r = await run(s, driveId, 'list_folders', { max: 1 })
    t.equal(!('errors' in r) && r.success, true)
  })

  await t.test('Dropbox 429 with retry_after in the body is honoured', async (t) => {
    dropbox.server.fail('POST /2/files/list_folder', { status: 429, headers: { 'retry-after': '0.2' }, body: { error_summary: 'too_many_requests/..', error: { reason: { '.tag': 'too_many_requests' }, retry_after: 0.3 } } }, 1)
    const started = Date.now()
    const r = await run(s, dropboxId, 'list_folders', { max: 1 })
    t.equal(!('errors' in r) && r.success, true)
    t.ok(Date.now() - started >= 290, 'waited retry_after (0.3 s), not only the header')
  })
})
