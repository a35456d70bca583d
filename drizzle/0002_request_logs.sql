CREATE TABLE "request_logs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"direction" text NOT NULL,
	"team_id" uuid,
	"request_id" text NOT NULL,
	"principal_kind" text,
	"api_key_id" uuid,
	"user_id" text,
	"operation_type" text,
	"operation" text,
	"root_fields" text[] DEFAULT '{}'::text[] NOT NULL,
	"endpoint" text NOT NULL,
	"method" text NOT NULL,
	"path" text NOT NULL,
	"status" smallint,
	"success" boolean NOT NULL,
	"error_codes" text[] DEFAULT '{}'::text[] NOT NULL,
	"error_message" text,
	"duration_ms" double precision NOT NULL,
	"cost" integer,
	"integration_id" uuid,
	"provider" text,
	"attempt" smallint,
	"client_ip" text,
	"user_agent" text
);
--> statement-breakpoint
CREATE INDEX "request_logs_team_id_id_idx" ON "request_logs" USING btree ("team_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "request_logs_request_id_idx" ON "request_logs" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "request_logs_team_api_key_id_idx" ON "request_logs" USING btree ("team_id","api_key_id","id" DESC NULLS LAST) WHERE "request_logs"."api_key_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "request_logs_team_integration_id_idx" ON "request_logs" USING btree ("team_id","integration_id","id" DESC NULLS LAST) WHERE "request_logs"."integration_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "request_logs_team_failures_idx" ON "request_logs" USING btree ("team_id","id" DESC NULLS LAST) WHERE NOT "request_logs"."success";