ALTER TABLE `tokens` ADD `config_loaded_at` integer;--> statement-breakpoint
CREATE INDEX `tokens_project_loaded_idx` ON `tokens` (`project_id`,`config_loaded_at`);