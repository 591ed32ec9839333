"""MOU tests: documents go to a temporary folder."""

from __future__ import annotations

import pytest

from bungkesmas import tenancy


@pytest.fixture(autouse=True)
def storage(app, tmp_path):
    app.config["MOU_STORAGE_DIR"] = str(tmp_path / "mous")
    # The test reads MOUs across partners like the provider (on PostgreSQL, RLS would
    # hide them from a session without a scope); requests set their own scope.
    tenancy.activate(tenancy.Scope.everything())
    return tmp_path / "mous"
