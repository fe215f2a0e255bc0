"""Timestamps of each step of a tool run, for bench/bench_tools.py's breakdown.

Off unless SUPPORTBOT_TOOL_TRACE names a file: each process appends one line per step,
`<key> <step> <unix time>`, the key `run:<id>` or `call:<id>`. Lines are short single writes
to a file opened for appending, so processes and threads never interleave within a line.
"""

import os
import time

from django.conf import settings

_fd: int | None = None


def tool_trace(key: str, step: str) -> None:
    """Note that `step` of the run `key` happened now (nothing when tracing is off)."""
    path = settings.SUPPORTBOT_TOOL_TRACE
    if not path:
        return
    global _fd
    if _fd is None:
        _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(_fd, f"{key} {step} {time.time():.6f}\n".encode())
