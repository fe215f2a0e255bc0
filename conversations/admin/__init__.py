"""The Django admin: transcript review for agents, bot configuration for admins."""

from conversations.admin import apikeys, bots, conversations, knowledge  # noqa: F401  (registers the admins)
