/**
 * Keeps `process.nextTick` on V8's fast path for the life of the process. A server entry imports
 * this module first, before it loads anything heavy (src/server.ts; the gateway benchmark's
 * Switchboard processes do the same).
 *
 * Why: Node builds every tick object with a literal whose first keys are symbols
 * (`{ [async_id_symbol]: …, [trigger_async_id_symbol]: …, [async_context_frame]: …, callback, args }`).
 * V8 remembers, at each of those keys, the hidden class ("map") it saw first. It holds those maps
 * weakly, so a full GC that runs while no tick object is alive frees them, and the next tick
 * object gets new ones. For this kind of literal V8 then marks the key megamorphic, for good:
 * from then on every nextTick (an HTTP request makes several) defines those properties through
 * the runtime, not in optimised code.
 * Switchboard's boot (drizzle, PGlite, pg-boss) runs a dozen full GCs, so this happened on every
 * start; bare Mercurius runs one and stays fast. With this module, Switchboard's benchmark process
 * served 16 % more requests per second (median of 16 alternating rounds against the same process
 * without it; CPU per request 90 → 75 µs on a busy machine). See README, "Choices".
 *
 * The fix holds one tick object for the life of the process, which keeps its maps, and with them
 * the ones V8 remembered, alive. It is taken synchronously through a short-lived async hook:
 * `init` receives each new tick object, and the hook is disabled straight after. The hook does
 * not track promises (`trackPromises: false`, Node 24).
 */
import { createHook } from 'node:async_hooks'

let pinned: object | undefined

const hook = createHook({
  init (_asyncId, type, _triggerAsyncId, resource) {
    if (type === 'TickObject') pinned ??= resource
  },
  // Without this, enabling the hook also installs V8 promise hooks. That invalidates V8's
  // promise-hook protector, which is never restored, so optimised code about promises and await
  // keeps checks it would otherwise leave out, even after the hook is disabled.
  trackPromises: false
})
hook.enable()
process.nextTick(() => {})
hook.disable()

/** Whether a tick object is held (false only if Node stops reporting them to `init`). */
export function tickObjectPinned (): boolean {
  return pinned !== undefined
}
