"""The JSON API at /api/v1 (flask-smorest: marshmallow schemas and the OpenAPI document)."""

from __future__ import annotations

import flask_smorest
from flask import Flask

from bungkesmas.extensions import csrf


class Api(flask_smorest.Api):
    def _register_error_handlers(self):
        # Errors of the whole app, API included, are rendered in one place
        # (bungkesmas.web): JSON {"errors": {...}} under /api/, HTML elsewhere.
        pass


def init_api(app: Flask) -> Api:
    from bungkesmas.api import (
        contributions,  # noqa: F401 — registers its routes on blp
        imports,  # noqa: F401 — registers its routes on blp
        members,  # noqa: F401 — registers its routes on blp
        mous,  # noqa: F401 — registers its routes on blp
        remittance,  # noqa: F401 — registers its routes on blp
        waste,  # noqa: F401 — registers its routes on blp
    )
    from bungkesmas.api.views import blp
    from bungkesmas.selfservice.views import api_blp as status_blp

    api = Api(app, spec_kwargs={
        "info": {"description": "Bungkesmas Partner Platform. Authenticate with "
                                "`Authorization: Bearer <token>` (`flask tokens create EMAIL`)."},
    })
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearer": []}]
    api.register_blueprint(blp)
    csrf.exempt(blp)
    # The member's status check: no token (its own blueprint, outside blp's gate).
    api.register_blueprint(status_blp)
    csrf.exempt(status_blp)
    return api
