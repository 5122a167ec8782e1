CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`target_type` text,
	`target_id` text,
	`result` text NOT NULL,
	`status` integer NOT NULL,
	`ip` text,
	`details` text
);
--> statement-breakpoint
CREATE INDEX `audit_at_idx` ON `audit_log` (`at`);--> statement-breakpoint
CREATE INDEX `audit_target_idx` ON `audit_log` (`target_id`);--> statement-breakpoint
CREATE TABLE `event_ledger` (
	`event_id` text PRIMARY KEY NOT NULL,
	`object_key` text NOT NULL,
	`line` text,
	`committed_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `event_ledger_object_idx` ON `event_ledger` (`object_key`);--> statement-breakpoint
CREATE INDEX `event_ledger_committed_idx` ON `event_ledger` (`committed_at`);--> statement-breakpoint
CREATE TABLE `projects` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`provider` text DEFAULT 'openai' NOT NULL,
	`base_url` text DEFAULT 'https://api.openai.com/v1' NOT NULL,
	`api_key_encrypted` text NOT NULL,
	`api_key_hint` text NOT NULL,
	`description` text,
	`metadata` text,
	`allowed_origins` text,
	`allowed_models` text,
	`max_requests` integer,
	`max_total_tokens` integer,
	`max_cost_usd` real,
	`token_defaults` text,
	`is_active` integer DEFAULT true NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `projects_name_unique` ON `projects` (`name`);--> statement-breakpoint
CREATE INDEX `projects_is_active_idx` ON `projects` (`is_active`);--> statement-breakpoint
CREATE TABLE `rejections_hourly` (
	`hour` integer NOT NULL,
	`code` text NOT NULL,
	`count` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`hour`, `code`)
);
--> statement-breakpoint
CREATE TABLE `tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`token_hash` text NOT NULL,
	`token_hint` text NOT NULL,
	`project_id` text NOT NULL,
	`name` text,
	`expires_at` integer NOT NULL,
	`is_active` integer DEFAULT true NOT NULL,
	`revoked_at` integer,
	`max_requests` integer,
	`rate_limits` text,
	`max_total_tokens` integer,
	`max_cost_usd` real,
	`allowed_models` text,
	`metadata` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`first_used_at` integer,
	`last_used_at` integer,
	`request_count` integer DEFAULT 0 NOT NULL,
	`total_tokens_used` integer DEFAULT 0 NOT NULL,
	`cost_used_usd` real DEFAULT 0 NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_hash_unique` ON `tokens` (`token_hash`);--> statement-breakpoint
CREATE INDEX `tokens_project_idx` ON `tokens` (`project_id`);--> statement-breakpoint
CREATE INDEX `tokens_expires_idx` ON `tokens` (`expires_at`);--> statement-breakpoint
CREATE INDEX `tokens_active_idx` ON `tokens` (`is_active`);--> statement-breakpoint
CREATE INDEX `tokens_created_idx` ON `tokens` (`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `usage_hourly` (
	`hour` integer NOT NULL,
	`project_id` text NOT NULL,
	`token_id` text NOT NULL,
	`model` text NOT NULL,
	`requests` integer DEFAULT 0 NOT NULL,
	`errors` integer DEFAULT 0 NOT NULL,
	`prompt_tokens` integer DEFAULT 0 NOT NULL,
	`completion_tokens` integer DEFAULT 0 NOT NULL,
	`cached_tokens` integer DEFAULT 0 NOT NULL,
	`reasoning_tokens` integer DEFAULT 0 NOT NULL,
	`estimated_requests` integer DEFAULT 0 NOT NULL,
	`cost_usd` real DEFAULT 0 NOT NULL,
	`duration_ms_sum` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`hour`, `project_id`, `token_id`, `model`)
);
--> statement-breakpoint
CREATE INDEX `usage_project_hour_idx` ON `usage_hourly` (`project_id`,`hour`);--> statement-breakpoint
CREATE INDEX `usage_token_hour_idx` ON `usage_hourly` (`token_id`,`hour`);