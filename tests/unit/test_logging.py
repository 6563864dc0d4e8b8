"""JSON logs: one object per line, trace ids carried, phone numbers masked wherever they appear."""

from __future__ import annotations

import json
import logging

from msg5g.kit.logging import JsonFormatter, mask_phones, trace_id_var


def test_numbers_are_masked_in_every_form() -> None:
    text = "to +8613800138000, tel:+8613912345678 and 13700001111; not 2026120109"
    assert mask_phones(text) == "to +86138****8000, tel:+86139****5678 and 137****1111; not 2026120109"


def test_log_line_is_json_with_trace_id_and_masked_extras() -> None:
    record = logging.LogRecord("msg5g.test", logging.WARNING, __file__, 1, "failed for %s", ("+8613800138000",), None)
    record.message_id = "m-1"
    token = trace_id_var.set("trace-1")
    try:
        line = JsonFormatter().format(record)
    finally:
        trace_id_var.reset(token)
    payload = json.loads(line)
    assert payload["event"] == "failed for +86138****8000"
    assert payload["trace_id"] == "trace-1"
    assert payload["message_id"] == "m-1"
    assert payload["level"] == "warning"
