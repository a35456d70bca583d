/**
 * Google Drive (providers.md §4). `access_type=offline` + `prompt=consent` so a refresh token
 * is issued; PKCE S256 supported; refresh tokens are not rotated; revocation is Google's own
 * `POST /revoke` with only `token`.
 */
import { RFC6749_DEFAULTS, type ProviderDefinition } from '../types.ts'
import { asRecord, optString, RevokeFailed } from '../oauth-defaults.ts'
import { googleDriveConnector } from './google-drive.connector.ts'

export const googleDrive: ProviderDefinition = {
  id: 'google_drive',
  name: 'Google Drive',
  description: 'Upload files and create folders in Google Drive.',
  category: 'storage',
  logoUrl: 'https://cdn.switchboard.dev/logos/google_drive.svg',
  status: 'active',
  authMode: 'oauth2',
  urls: {
    authorize: 'https://accounts.google.com/o/oauth2/v2/auth',
    token: 'https://oauth2.googleapis.com/token',
    revoke: 'https://oauth2.googleapis.com/revoke',
    api: 'https://www.googleapis.com/drive/v3',
    upload: 'https://www.googleapis.com/upload/drive/v3'
  },
  oauth: {
    ...RFC6749_DEFAULTS,
    defaultScopes: ['https://www.googleapis.com/auth/drive.file'],
    extraAuthorizeParams: { access_type: 'offline', prompt: 'consent', include_granted_scopes: 'true' },
    rotatesRefreshToken: false,
    revocation: 'custom'
  },
  // Data API: google-drive.connector.ts
  operations: googleDriveConnector.operations,
  connector: googleDriveConnector,

  async fetchAccount (ctx, tokens) {
    const res = await ctx.http.request(`${ctx.urls.api}/about?fields=user,storageQuota`, { headers: { authorization: `Bearer ${tokens.accessToken}` } })
    if (res.status !== 200) throw new Error(`about answered ${res.status}`)
    const body = asRecord(res.body)
    const user = asRecord(body.user)
    return {
      accountId: optString(user.permissionId) ?? optString(user.emailAddress) ?? 'unknown',
      accountName: optString(user.emailAddress) ?? optString(user.displayName),
      metadata: { displayName: user.displayName ?? null, storageQuota: body.storageQuota ?? null }
    }
  },

  async revoke (ctx, token) {
    const res = await ctx.http.request(ctx.urls.revoke!, { method: 'POST', form: { token } })
    // 400 invalid_token: already revoked or expired.
    if (res.status !== 200 && res.status !== 400) throw new RevokeFailed(res.status, res.headers.get('retry-after'))
  }
}
