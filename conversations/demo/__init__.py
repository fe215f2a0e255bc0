"""The demo store `make run` shows: its bot, orders, FAQ and, on request, past conversations."""
