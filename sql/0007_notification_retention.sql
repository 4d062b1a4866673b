-- 0007_notification_retention.sql: sign-in notifications are kept for a
-- retention period (serve --notification-retention, 90 days by default)
-- and removed by age in cleanup batches, oldest first.
CREATE INDEX notifications_created_at ON notifications (created_at);
