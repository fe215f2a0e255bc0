"""Human agents: replying in a conversation, the waiting queue, hand-off timeouts, the dashboard."""
