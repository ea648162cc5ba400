import io

from litestore_webhooks.demo import signing_tour


def test_signing_tour_verifies_every_example_in_python_and_node():
    out = io.StringIO()
    assert signing_tour(out) == 0
    text = out.getvalue()
    assert "11 events signed; 0 verification failures." in text
    assert "skipped" not in text  # node must be present: the doc's own receiver code is the judge
    rows = [line for line in text.splitlines() if line.startswith(("content.", "order.", "product.", "review.", "creator.", "commission.", "user."))]
    assert len(rows) == 11 and all(line.split()[-2:] == ["ok", "ok"] for line in rows)
