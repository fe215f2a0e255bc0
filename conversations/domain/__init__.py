"""The domain: conversations, messages, ownership, the one intake and reply runner."""
