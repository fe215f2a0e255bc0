"""The evaluation runs' list: with no run yet it says how to make one."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_empty_list_says_which_command_makes_a_run(admin_client, db):
    page = admin_client.get("/admin/conversations/evaluationrun/").content.decode()
    assert "0 evaluation runs" in page
    command = re.search(r"<code>DEBUG=1 \.venv/bin/python manage\.py evaluate (\S+) --bot", page)
    assert command and (ROOT / command.group(1)).is_file()
