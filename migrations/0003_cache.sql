ALTER TABLE `projects` ADD `cache` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `cache_generation` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `tokens` ADD `cache_allowed` integer DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_hourly` ADD `cache_hits` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_hourly` ADD `cache_misses` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_hourly` ADD `saved_usd` real DEFAULT 0 NOT NULL;