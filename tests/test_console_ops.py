"""The console's ``:metrics`` and ``:audit``: the real app's scrape and audit CLI, as text."""

from __future__ import annotations

import io

from bot.emulator.console import Console
from bot.emulator.console_ops import nonzero_samples
from bot.emulator.harness import LocalStack


def _run(console: Console, out: io.StringIO, line: str) -> str:
    out.seek(0)
    out.truncate()
    console.handle(line)
    return out.getvalue()


def test_nonzero_samples_keeps_named_non_zero_values_without_buckets() -> None:
    exposition = "\n".join(
        [
            "# HELP delete_org_requests_total How requests ended.",
            'delete_org_requests_total{outcome="deleted"} 2.0',
            'delete_org_requests_total{outcome="failed"} 0.0',
            'delete_org_ack_seconds_bucket{kind="command",le="0.1"} 3.0',
            "delete_org_ack_seconds_count 3.0",
            "delete_org_requests_created 1.7e9",
            "python_gc_objects_collected_total 12.0",
        ]
    )
    assert nonzero_samples(exposition) == [
        'delete_org_requests_total{outcome="deleted"} 2.0',
        "delete_org_ack_seconds_count 3.0",
    ]
    assert nonzero_samples(exposition, "outcome") == [
        'delete_org_requests_total{outcome="deleted"} 2.0'
    ]


def test_metrics_and_audit_follow_a_cancelled_card() -> None:
    out = io.StringIO()
    with LocalStack(confirm_timeout=120, oauth=False) as stack:
        console = Console(stack, "U0ALICE0001", out)
        text = _run(console, out, ":metrics outcome")
        assert "GET /readyz → 200" in text
        assert "GET /metrics → 0 non-zero samples with 'outcome'" in text

        _run(console, out, "/delete-org link")
        _run(console, out, ":fill 1 admin_us")
        _run(console, out, ":submit")
        _run(console, out, "/delete-org exampleprodus4k7q2m")
        _run(console, out, ":click 2")  # Cancel
        text = _run(console, out, ":metrics outcome")
        assert 'delete_org_requests_total{outcome="cancelled"} 1.0' in text

        assert "audit chain OK:" in _run(console, out, ":audit verify")
        listing = _run(console, out, ":audit list --event cancelled")
        assert "cancelled" in listing and "exampleprodus4k7q2m" in listing
        assert "requested" not in listing.split("\n", 1)[1]  # filtered to the one event

        text = _run(console, out, ":audit frobnicate")
        assert text.startswith("! ") and "usage: :audit verify" in text
        assert _run(console, out, ':audit list --org "unclosed').startswith("! ")
        assert "(exit 1)" in _run(console, out, ":audit show NOSUCHREQUEST")
