"""Transports: thin entrances that parse, check, call the domain and serialize."""
