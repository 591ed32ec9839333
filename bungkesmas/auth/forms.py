"""Sign-in, invitation and token forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, SelectField, StringField

from bungkesmas.auth.permissions import PARTNER_ROLES
from bungkesmas.forms import Form, email, length, required, strip


class LoginForm(Form):
    email = EmailField(_l("E-mail address"), [required(), length(254), email()], filters=[strip])
    password = PasswordField(_l("Password"), [required(), length(128)])


class AcceptInvitationForm(Form):
    name = StringField(_l("Your name"), [length(200)])
    password = PasswordField(_l("Password"), [required(), length(128)])


class InviteForm(Form):
    name = StringField(_l("Name"), [required(), length(200, 2)])
    email = EmailField(_l("E-mail address"), [required(), length(254), email()], filters=[strip])
    role = SelectField(_l("Role"), [required()])

    def __init__(self, *args, **kwargs):
        from bungkesmas.auth.services import role_label

        super().__init__(*args, **kwargs)
        self.role.choices = [(r.value, role_label(r)) for r in PARTNER_ROLES]


class TokenForm(Form):
    name = StringField(_l("Token name"), [required(), length(100)])
