CREATE TABLE "request_log_rollup" (
	"team_id" uuid NOT NULL,
	"hour" timestamp with time zone NOT NULL,
	"direction" text NOT NULL,
	"endpoint" text NOT NULL,
	"operation" text,
	"provider" text,
	"integration_id" uuid,
	"api_key_id" uuid,
	"status" smallint,
	"success" boolean NOT NULL,
	"error_codes" text[] NOT NULL,
	"calls" integer NOT NULL,
	"duration_sum" double precision NOT NULL,
	"duration_min" double precision NOT NULL,
	"duration_max" double precision NOT NULL,
	"histogram" bigint[] NOT NULL,
	CONSTRAINT "request_log_rollup_key" UNIQUE NULLS NOT DISTINCT("team_id","hour","direction","endpoint","operation","provider","integration_id","api_key_id","status","success","error_codes")
);
--> statement-breakpoint
CREATE TABLE "request_log_rollup_state" (
	"singleton" boolean DEFAULT true NOT NULL,
	"covered_from" timestamp with time zone NOT NULL,
	CONSTRAINT "request_log_rollup_state_pkey" PRIMARY KEY("singleton")
);
--> statement-breakpoint
DROP INDEX "request_logs_team_id_id_idx";--> statement-breakpoint
DROP INDEX "request_logs_request_id_idx";--> statement-breakpoint
DROP INDEX "request_logs_team_api_key_id_idx";--> statement-breakpoint
DROP INDEX "request_logs_team_integration_id_idx";--> statement-breakpoint
DROP INDEX "request_logs_team_failures_idx";--> statement-breakpoint
CREATE INDEX "request_logs_team_id_id_idx" ON "request_logs" USING btree ("team_id","id");--> statement-breakpoint
CREATE INDEX "request_logs_request_id_idx" ON "request_logs" USING hash ("request_id");--> statement-breakpoint
CREATE INDEX "request_logs_team_api_key_id_idx" ON "request_logs" USING btree ("team_id","api_key_id","id") WHERE "request_logs"."api_key_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "request_logs_team_integration_id_idx" ON "request_logs" USING btree ("team_id","integration_id","id") WHERE "request_logs"."integration_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "request_logs_team_failures_idx" ON "request_logs" USING btree ("team_id","id") WHERE NOT "request_logs"."success";