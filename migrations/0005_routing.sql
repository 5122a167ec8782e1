CREATE TABLE `model_aliases` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`strategy` text DEFAULT 'ordered' NOT NULL,
	`targets` text NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `model_aliases_project_name_unique` ON `model_aliases` (`project_id`,`name`);--> statement-breakpoint
CREATE TABLE `upstream_hourly` (
	`hour` integer NOT NULL,
	`project_id` text NOT NULL,
	`upstream_id` text NOT NULL,
	`key_id` text NOT NULL,
	`requests` integer DEFAULT 0 NOT NULL,
	`errors` integer DEFAULT 0 NOT NULL,
	`rate_limited` integer DEFAULT 0 NOT NULL,
	`failed_attempts` integer DEFAULT 0 NOT NULL,
	`ttfb_ms_sum` integer DEFAULT 0 NOT NULL,
	`ttfb_count` integer DEFAULT 0 NOT NULL,
	`duration_ms_sum` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`hour`, `project_id`, `upstream_id`, `key_id`)
);
--> statement-breakpoint
CREATE INDEX `upstream_hourly_upstream_idx` ON `upstream_hourly` (`upstream_id`,`hour`);--> statement-breakpoint
CREATE TABLE `upstream_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`upstream_id` text NOT NULL,
	`key_encrypted` text NOT NULL,
	`key_hint` text NOT NULL,
	`weight` integer DEFAULT 1 NOT NULL,
	`is_active` integer DEFAULT true NOT NULL,
	`failing_at` integer,
	`failing_reason` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`upstream_id`) REFERENCES `upstreams`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `upstream_keys_upstream_idx` ON `upstream_keys` (`upstream_id`);--> statement-breakpoint
CREATE TABLE `upstreams` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`provider` text NOT NULL,
	`base_url` text NOT NULL,
	`models` text,
	`settings` text,
	`first_byte_timeout_ms` integer,
	`retry_on` text,
	`position` integer DEFAULT 0 NOT NULL,
	`is_active` integer DEFAULT true NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `upstreams_project_name_unique` ON `upstreams` (`project_id`,`name`);--> statement-breakpoint
-- Each existing project becomes one upstream named `default` with its provider, base URL, provider settings
-- and key (the ciphertext and hint are copied as they are: same ENCRYPTION_KEY, same envelope).
INSERT INTO `upstreams` (`id`, `project_id`, `name`, `provider`, `base_url`, `settings`, `position`, `is_active`, `created_at`, `updated_at`)
SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))), `id`, 'default', `provider`, `base_url`, `provider_settings`, 0, 1, `created_at`, `updated_at` FROM `projects`;
--> statement-breakpoint
INSERT INTO `upstream_keys` (`id`, `upstream_id`, `key_encrypted`, `key_hint`, `weight`, `is_active`, `created_at`, `updated_at`)
SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))), u.`id`, p.`api_key_encrypted`, p.`api_key_hint`, 1, 1, p.`created_at`, p.`updated_at`
FROM `projects` p JOIN `upstreams` u ON u.`project_id` = p.`id` AND u.`name` = 'default';
--> statement-breakpoint
ALTER TABLE `projects` DROP COLUMN `provider`;--> statement-breakpoint
ALTER TABLE `projects` DROP COLUMN `base_url`;--> statement-breakpoint
ALTER TABLE `projects` DROP COLUMN `api_key_encrypted`;--> statement-breakpoint
ALTER TABLE `projects` DROP COLUMN `api_key_hint`;--> statement-breakpoint
ALTER TABLE `projects` DROP COLUMN `provider_settings`;