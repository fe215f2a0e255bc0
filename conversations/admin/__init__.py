"""The Django admin: transcript review for agents, bot configuration for admins."""

from conversations.admin import (  # noqa: F401  (registers the admins)
    agents,
    apikeys,
    bots,
    conversations,
    evaluation,
    knowledge,
)
