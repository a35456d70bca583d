/**
 * The whole Drizzle schema: one file per area under ./tables, each table documented where it
 * is declared. drizzle-kit reads this file (`npm run db:generate`) to generate migrations.
 */
export * from './tables/core.ts'
export * from './tables/integrations.ts'
export * from './tables/request-logs.ts'
export * from './tables/operations.ts'
export * from './tables/idempotency.ts'
export * from './tables/vault.ts'
