/**
 * The process shell: config → buildApp → listen → graceful close. Everything else is in app.ts.
 * Loaded by server.ts (the entry), after the one thing that must come first.
 * On an empty embedded database, creates a `default` team and prints one admin key, once.
 */
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { DataDirLockedError } from './db/data-dir-lock.ts'
import { bootstrapEmbedded } from './bootstrap.ts'

let config: Config
try {
  config = loadConfig()
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(err.message + '\n')
    process.exit(1)
  }
  throw err
}

let app: Awaited<ReturnType<typeof buildApp>>
try {
  app = await buildApp(config)
} catch (err) {
  if (err instanceof DataDirLockedError) {
    process.stderr.write(err.message + '\n')
    process.exit(1)
  }
  throw err
}

if (config.jwt.secretGenerated) app.log.warn('JWT_SECRET is not set: using a generated development secret stored in the data directory')
if (config.database.kind === 'pglite') {
  app.log.warn('Embedded PGlite database in use: fine for development and single-instance use; it is not crash-durable like a PostgreSQL server (set DATABASE_URL for production)')
  await bootstrapEmbedded(app, config.port, (text) => process.stdout.write(text))
}

closeWithGrace({ delay: config.shutdownGraceMs }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'shutting down after an error')
  else app.log.info({ signal }, 'shutting down: finishing in-flight requests')
  await app.close()
})

await app.listen({ host: config.host, port: config.port })
