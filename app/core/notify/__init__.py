"""Notifications: the outbox (emit/cancel in the caller's transaction), the dispatcher that
delivers due rows through the inbox and WeChat adapters, and the shared access token."""
