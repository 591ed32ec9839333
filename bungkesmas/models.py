"""Every model of the application, imported in one place for metadata and migrations."""

from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.models import ApiToken, Invitation, PartnerStaff, User
from bungkesmas.mail.models import OutboxMessage
from bungkesmas.partners.models import Partner

__all__ = ["ApiToken", "AuditEvent", "Invitation", "OutboxMessage", "Partner", "PartnerStaff", "User"]
