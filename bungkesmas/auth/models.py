"""Users (global identities), partner staff memberships, invitations and API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bungkesmas.auth.permissions import Role
from bungkesmas.extensions import db
from bungkesmas.partners.models import Partner, _enum
from bungkesmas.tenancy import TenantOwned
from bungkesmas.timeutil import utcnow


class User(UserMixin, db.Model):
    """A person who signs in. Provider staff carry a provider role; partner staff get
    their role per partner from `PartnerStaff` (one person may serve several partners)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    provider_role: Mapped[Role | None] = mapped_column(_enum(Role, "user_role"))
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def is_provider(self) -> bool:
        return self.provider_role is not None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.provider_role or 'partner staff'}>"


class PartnerStaff(TenantOwned, db.Model):
    """A user's membership of one partner, with the role held there."""

    __tablename__ = "partner_staff"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id"),
        Index("ix_partner_staff_user", "user_id"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[Role] = mapped_column(_enum(Role, "staff_role"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    partner: Mapped[Partner] = relationship(foreign_keys="PartnerStaff.tenant_id", lazy="joined")


class Invitation(TenantOwned, db.Model):
    """A one-time link for a person to join a partner with a role."""

    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("tenant_id", "token_hash"),)

    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[Role] = mapped_column(_enum(Role, "invitation_role"))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    partner: Mapped[Partner] = relationship(foreign_keys="Invitation.tenant_id", lazy="joined")

    def is_open(self, now: datetime) -> bool:
        return self.accepted_at is None and self.revoked_at is None and now < self.expires_at


class ApiToken(db.Model):
    """A bearer token. A partner token fixes its tenant; a provider token has none.

    Global, not partner-owned: it is looked up before any tenant is known — it is what
    determines the tenant. Only a SHA-256 hash of the secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")
