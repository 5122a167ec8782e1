ALTER TABLE `projects` ADD `capabilities` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `projects` ADD `object_scope` text DEFAULT 'token' NOT NULL;