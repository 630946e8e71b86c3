"""The registered name of every Celery task, in one place.

Each task is declared with its name from here (`@shared_task(name=task_names.BOT_TURN)`)
and services enqueue it by the same constant (`enqueue_on_commit(task_names.BOT_TURN,
message_id=…)`), so a misspelt name fails at import rather than in a worker. Services
cannot import the task objects themselves: task modules import the services they call.
The names are what brokers and beat schedules hold, so they stay as they are.
"""

# bots
BOT_TURN = "bots.tasks.bot_turn"
BOT_SWEEP_UNANSWERED = "bots.tasks.sweep_unanswered_messages"

# agents
QUEUE_DRAIN = "agents.tasks.queue_drain"
QUEUE_DRAIN_FOR_AGENT = "agents.tasks.queue_drain_for_agent"
ROUTING_SWEEP = "agents.tasks.routing_sweep"
PRESENCE_SWEEP = "agents.tasks.presence_sweep"
SLA_SWEEP = "agents.tasks.sla_sweep"
QUEUE_MESSAGE_SEND = "agents.tasks.queue_message_send"
QUEUE_MESSAGES_SWEEP = "agents.tasks.queue_messages_sweep"
CSAT_REQUEST = "agents.tasks.csat_request"
AUDIT_PRUNE = "agents.tasks.audit_prune"

# conversations: webhook intake and retention
WEBHOOK_PROCESS = "conversations.tasks.process_webhook_event"
WEBHOOK_PROCESS_BATCH = "conversations.tasks.process_webhook_events"
WEBHOOK_SWEEP = "conversations.tasks.sweep_webhook_events"
RETENTION_APPLY = "conversations.tasks.retention_apply"

# conversations: delivery
MESSAGE_DELIVER = "conversations.delivery_tasks.deliver_message"
MESSAGES_DELIVER = "conversations.delivery_tasks.deliver_messages"
MESSAGES_SWEEP_PENDING = "conversations.delivery_tasks.sweep_pending_messages"
READ_RECEIPT_SEND = "conversations.delivery_tasks.send_read_receipt"

# conversations: media downloads
MEDIA_DOWNLOAD = "conversations.media_tasks.download_media"
MEDIA_DOWNLOADS_SWEEP = "conversations.media_tasks.sweep_media_downloads"

# conversations: web chat
WEBCHAT_EMAIL_SEND = "conversations.tasks.webchat_email_send"

# conversations: the demo sandbox's simulated phone and Graph
SANDBOX_POST_CUSTOMER_MESSAGE = "conversations.providers.sandbox.tasks.post_customer_message"
SANDBOX_POST_DELIVERY_STATUSES = "conversations.providers.sandbox.tasks.post_delivery_statuses"
SANDBOX_POST_READ_STATUS = "conversations.providers.sandbox.tasks.post_read_status"
SANDBOX_REVIEW_TEMPLATE = "conversations.providers.sandbox.tasks.review_template"

# notifications
PLATFORM_EVENT_APPLY = "notifications.tasks.apply_platform_event"
TEMPLATES_SYNC_NUMBER = "notifications.tasks.templates_sync_number"
TEMPLATES_SYNC_ALL = "notifications.tasks.templates_sync_all"
NUMBER_LIMITS_REFRESH_ALL = "notifications.tasks.number_limits_refresh_all"
CAMPAIGN_RUN = "notifications.tasks.campaign_run"
CAMPAIGNS_TICK = "notifications.tasks.campaigns_tick"
ALERT_EMAIL = "notifications.tasks.alert_email"
REMEDIATION_TICK = "notifications.tasks.remediation_tick"
WEBHOOK_DELIVER = "notifications.tasks.webhook_deliver"
WEBHOOK_DELIVERIES_SWEEP = "notifications.tasks.webhook_deliveries_sweep"
