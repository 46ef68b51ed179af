"""schemathesis hooks for tests/serve/test_contract.py (loaded by schemathesis itself, through
SCHEMATHESIS_HOOKS; not a test module)."""

from __future__ import annotations

import schemathesis


@schemathesis.hook
def filter_body(ctx, body) -> bool:
    """Leave out fold-in bodies that rate an item twice. The service refuses them (422), as
    the schema's description of ``ratings`` says, but JSON Schema cannot state it: its
    ``uniqueItems`` compares whole {item, rating} objects, and 50 and "50" are one item."""
    ratings = body.get("ratings") if isinstance(body, dict) else None
    if not isinstance(ratings, list):
        return True
    items = [str(r.get("item")) for r in ratings if isinstance(r, dict)]
    return len(items) == len(set(items))
