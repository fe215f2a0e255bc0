"""The edge: origins, CORS and rate limits in one policy, API keys, identity signing."""
