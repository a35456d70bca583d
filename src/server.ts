/**
 * The process entry (`npm start`, the Dockerfile). One thing happens before the app's modules
 * load: runtime/keep-next-tick-fast.ts. It has to run before loading them triggers a full GC,
 * and static imports are all loaded before any of them runs, so the shell is imported after it.
 */
import './runtime/keep-next-tick-fast.ts'

await import('./shell.ts')
