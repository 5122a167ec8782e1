CREATE TABLE `end_users` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`provider_id` text NOT NULL,
	`subject` text NOT NULL,
	`object_key` text NOT NULL,
	`limits` text,
	`is_active` integer DEFAULT true NOT NULL,
	`revoked_at` integer,
	`first_used_at` integer,
	`config_loaded_at` integer,
	`last_used_at` integer,
	`request_count` integer DEFAULT 0 NOT NULL,
	`total_tokens_used` integer DEFAULT 0 NOT NULL,
	`cost_used_usd` real DEFAULT 0 NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`provider_id`) REFERENCES `identity_providers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `end_users_object_unique` ON `end_users` (`object_key`);--> statement-breakpoint
CREATE INDEX `end_users_project_loaded_idx` ON `end_users` (`project_id`,`config_loaded_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `end_users_provider_subject_unique` ON `end_users` (`provider_id`,`subject`);--> statement-breakpoint
CREATE INDEX `end_users_project_idx` ON `end_users` (`project_id`);--> statement-breakpoint
CREATE TABLE `identity_providers` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`issuer` text NOT NULL,
	`audience` text NOT NULL,
	`jwks_url` text,
	`secret_encrypted` text,
	`algorithms` text NOT NULL,
	`jwks_cache_seconds` integer DEFAULT 600 NOT NULL,
	`allow_direct` integer DEFAULT false NOT NULL,
	`user_limits` text,
	`token_duration_minutes` integer DEFAULT 60 NOT NULL,
	`max_token_duration_minutes` integer DEFAULT 1440 NOT NULL,
	`max_active_tokens_per_user` integer DEFAULT 10 NOT NULL,
	`is_active` integer DEFAULT true NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `identity_providers_issuer_audience_unique` ON `identity_providers` (`issuer`,`audience`);--> statement-breakpoint
CREATE INDEX `identity_providers_project_idx` ON `identity_providers` (`project_id`);--> statement-breakpoint
CREATE TABLE `issuing_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`key_hash` text NOT NULL,
	`key_hint` text NOT NULL,
	`ceilings` text NOT NULL,
	`expires_at` integer,
	`revoked_at` integer,
	`last_used_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `issuing_keys_hash_unique` ON `issuing_keys` (`key_hash`);--> statement-breakpoint
CREATE INDEX `issuing_keys_project_idx` ON `issuing_keys` (`project_id`);--> statement-breakpoint
ALTER TABLE `projects` ADD `period_budgets` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `budget_time_zone` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `token_rate_limits` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `period_budgets` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `budget_time_zone` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `token_rate_limits` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `object_key` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `tokens` ADD `previous_hash` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `previous_valid_until` integer;--> statement-breakpoint
ALTER TABLE `tokens` ADD `parent_id` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `can_mint` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `tokens` ADD `issued_by` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `issuing_key_id` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `end_user_id` text;--> statement-breakpoint
CREATE INDEX `tokens_object_idx` ON `tokens` (`object_key`);--> statement-breakpoint
CREATE INDEX `tokens_previous_hash_idx` ON `tokens` (`previous_hash`);--> statement-breakpoint
CREATE INDEX `tokens_parent_idx` ON `tokens` (`parent_id`);--> statement-breakpoint
CREATE INDEX `tokens_end_user_idx` ON `tokens` (`end_user_id`);--> statement-breakpoint
-- Every existing token is admitted by its own object, named by the hash of its (only) secret.
UPDATE `tokens` SET `object_key` = `token_hash`;
--> statement-breakpoint
-- A token inserted without an object key (by a worker deployed before this migration, still running while
-- it rolls out) is admitted by its own object, like every token before this migration.
CREATE TRIGGER `tokens_object_key_default` AFTER INSERT ON `tokens` WHEN NEW.`object_key` = '' BEGIN
	UPDATE `tokens` SET `object_key` = NEW.`token_hash` WHERE `id` = NEW.`id`;
END;
