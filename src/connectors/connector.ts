/**
 * What a provider can do once connected. A provider's file in providers/ may attach a
 * `Connector` to its catalog entry: how its API is called (the dialect the shared outbound
 * client needs), the operations `runIntegrationOperation` offers, and the capabilities it
 * implements. Cross-provider features ask for a capability (`connector.storage`), never for a
 * provider id, so no code anywhere branches on which provider it talks to.
 */
import type { ErrorCode } from '../errors.ts'
import type { HttpResponse } from './http.ts'
import type { ApiClient } from './outbound/api-client.ts'
import type { FileSource } from './outbound/files.ts'

/** A JSON schema (draft 2020-12 subset ajv understands) describing an operation's input. */
export type JsonSchema = Record<string, unknown>

/** How the shared client should treat one provider response. */
export type Outcome =
  | { kind: 'ok' }
  /** The token was refused: refresh once and retry (`expired` = the provider said so explicitly). */
  | { kind: 'auth', expired: boolean, message: string }
  /** Budget spent: wait (Retry-After or the provider's own signal) and retry. */
  | { kind: 'throttled', retryAfterMs: number | null }
  | { kind: 'error', code: ErrorCode, message: string, retryable: boolean }

/** The provider's API dialect, as data and small functions the outbound client calls. */
export interface ProviderDialect {
  /** Headers carrying the access token (default `Authorization: Bearer`; Shopify has its own header). */
  authHeaders?(token: string): Record<string, string>
  /** Provider quirks on top of the status-based default (Slack `ok:false`, Figma 403, Dropbox `retry_after`…). */
  classify?(res: HttpResponse): Outcome | undefined
  /** Milliseconds to leave the integration idle after a successful response (Shopify call-limit, GraphQL throttleStatus). */
  pacing?(res: HttpResponse): number | null
  /** Steady request budget of one integration, enforced by the per-integration governor (queues, never fails early). */
  rateLimit: { perSecond: number, burst: number }
}

/** Everything an operation or capability needs for one integration, bound by the operations service. */
export interface ConnectorContext {
  provider: string
  /** Authenticated, resilient, logged calls to the provider for this integration. */
  api: ApiClient
  /** The provider's URLs for this integration (catalog templates + overrides, `{shop}` filled). */
  urls: Record<string, string>
  integration: { id: string, teamId: string, config: Record<string, unknown>, accountMetadata: Record<string, unknown> }
  /** Downloads caller-given file URLs with size, scheme and address checks. */
  files: FileSource
  /** Long operations report progress here (tracked in operation_runs). */
  progress(p: Record<string, unknown>): void
  /** Hands over records as they stream in (a run writes them to operation_run_items), so none are kept in memory. */
  emit(items: unknown[]): Promise<void>
}

export interface ConnectorOperation {
  /** snake_case as in seed 000 (`import_products`, `upload_file`). */
  name: string
  description: string
  /** Provider scopes the operation needs. */
  scopes?: string[]
  inputSchema: JsonSchema
  /** Runs as a tracked background job (`operationRun`) because it may take many pages or files. */
  long?: boolean
  run(ctx: ConnectorContext, input: Record<string, unknown>): Promise<unknown>
}

// ── capabilities ──────────────────────────────────────────────────────────────────────

export interface FileContent { name: string, mimeType: string, bytes: Uint8Array }
export interface StoredFile { id: string, name: string, path: string | null, url: string | null, size: number }
export interface Folder { id: string, name: string, path: string | null }

export interface StorageCapability {
  /** `folder` is a folder id (Drive) or path (Dropbox) as `createFolder` returned it; null = root. */
  uploadFile(ctx: ConnectorContext, file: FileContent, folder: Folder | null): Promise<StoredFile>
  /** Creates the folder, or returns the existing one of that name (Drive by name, Dropbox 409 conflict). */
  createFolder(ctx: ConnectorContext, name: string, parent?: Folder | null): Promise<Folder>
  /** Streams folders page by page. */
  listFolders(ctx: ConnectorContext, parent?: Folder | null): AsyncIterable<Folder[]>
}

export interface Product { id: string, title: string, description: string, images: string[], variants: unknown[] }
export interface CommerceCapability {
  /** Streams products page by page (bounded memory however many there are). */
  listProducts(ctx: ConnectorContext, opts?: { pageSize?: number }): AsyncIterable<Product[]>
  addProductImages(ctx: ConnectorContext, productId: string, imageUrls: string[]): Promise<{ productId: string, media: Array<{ id: string, status: string }>, productUrl: string | null }>
}

export interface DesignFile { key: string, name: string, thumbnailUrl: string | null, lastModified: string | null, projectId: string | null }
export interface DesignCapability {
  /** Files of every project of a team, streamed per project. */
  listFiles(ctx: ConnectorContext, teamId: string): AsyncIterable<DesignFile[]>
  exportImages(ctx: ConnectorContext, fileKey: string, nodeIds: string[], format: 'png' | 'jpg' | 'svg' | 'pdf', scale?: number): Promise<Record<string, string | null>>
}

export interface Channel { id: string, name: string, isPrivate: boolean }
export interface MessagingCapability {
  postMessage(ctx: ConnectorContext, channel: string, text: string): Promise<{ channel: string, ts: string }>
  listChannels(ctx: ConnectorContext): AsyncIterable<Channel[]>
}

export interface DocumentRef { id: string, object: string, title: string | null, url: string | null }
export interface DocumentsCapability {
  search(ctx: ConnectorContext, query: string): AsyncIterable<DocumentRef[]>
  createPage(ctx: ConnectorContext, parent: { pageId?: string, databaseId?: string }, title: string, text?: string): Promise<DocumentRef>
}

export interface Connector {
  dialect: ProviderDialect
  operations: ConnectorOperation[]
  storage?: StorageCapability
  commerce?: CommerceCapability
  design?: DesignCapability
  messaging?: MessagingCapability
  documents?: DocumentsCapability
}
