ALTER TABLE "integration_credentials" ADD COLUMN "refresh_token_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "integrations" ADD COLUMN "account_refreshed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "integrations" ADD COLUMN "account_refresh_failed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "integrations" ADD COLUMN "account_refresh_error" text;--> statement-breakpoint
ALTER TABLE "oauth_states" ADD COLUMN "launch_hash" text;--> statement-breakpoint
ALTER TABLE "oauth_states" ADD COLUMN "launched_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "oauth_states" ADD COLUMN "browser_binding_hash" text;--> statement-breakpoint
ALTER TABLE "oauth_states" ADD COLUMN "authorize_url" text;--> statement-breakpoint
ALTER TABLE "oauth_states" ADD COLUMN "issuer" text;--> statement-breakpoint
CREATE UNIQUE INDEX "oauth_states_launch_hash_uq" ON "oauth_states" USING btree ("launch_hash");