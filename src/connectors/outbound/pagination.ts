/**
 * Pagination helpers that stream: each yields one provider page at a time, so a consumer that
 * handles pages as they come keeps memory bounded however many records the provider has.
 */

/** A page and how to ask for the next one (null = last page). */
export interface Page<T, C> { items: T[], next: C | null }

/** Follows a cursor (Shopify endCursor, Drive pageToken, Dropbox cursor, Notion start_cursor, Slack next_cursor). */
export async function * cursorPages<T, C> (fetchPage: (cursor: C | null) => Promise<Page<T, C>>): AsyncGenerator<T[]> {
  let cursor: C | null = null
  for (let guard = 0; guard < 1_000_000; guard++) {
    const page: Page<T, C> = await fetchPage(cursor)
    if (page.items.length > 0) yield page.items
    if (page.next === null || page.next === cursor) return
    cursor = page.next
  }
}

/** Fans out over parents (Figma projects of a team) and streams each parent's page. */
export async function * nestedPages<P, T> (parents: AsyncIterable<P[]>, children: (parent: P) => AsyncIterable<T[]>): AsyncGenerator<T[]> {
  for await (const page of parents) {
    for (const parent of page) yield * children(parent)
  }
}
