/**
 * The process shell: config → buildApp → listen → graceful close. Everything else is in app.ts.
 * Loaded by server.ts (the entry), after the one thing that must come first.
 * Logs the start-up warnings (startup-warnings.ts). On an empty embedded database, creates a
 * `default` team and one admin key, once: printed, or in production written to a 0600 file.
 */
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { DataDirLockedError } from './db/data-dir-lock.ts'
import { KeyringMismatchError } from './domain/vault/keyring-check.ts'
import { BootstrapKeyFileExistsError, bootstrapEmbedded, bootstrapKeyFile } from './bootstrap.ts'
import { startupWarnings } from './startup-warnings.ts'

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
  if (err instanceof DataDirLockedError || err instanceof KeyringMismatchError) {
    process.stderr.write(err.message + '\n')
    process.exit(1)
  }
  throw err
}

for (const warning of startupWarnings(config)) app.log.warn(warning)
if (config.database.kind === 'pglite') {
  // Production ships stdout to a log store: the key goes to a file there, never to the output.
  const keyFile = config.nodeEnv === 'production' ? bootstrapKeyFile(config.dataDir) : undefined
  try {
    await bootstrapEmbedded(app, { port: config.port, keyFile }, (text) => process.stdout.write(text))
  } catch (err) {
    if (!(err instanceof BootstrapKeyFileExistsError)) throw err
    process.stderr.write(err.message + '\n')
    await app.close()
    process.exit(1)
  }
}

closeWithGrace({ delay: config.shutdownGraceMs }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'shutting down after an error')
  else app.log.info({ signal }, 'shutting down: finishing in-flight requests')
  await app.close()
})

await app.listen({ host: config.host, port: config.port })
