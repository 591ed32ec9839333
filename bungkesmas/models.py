"""Every model of the application, imported in one place for metadata and migrations."""

from bungkesmas.audit.models import AuditEvent
from bungkesmas.auth.models import ApiToken, Invitation, PartnerStaff, User
from bungkesmas.contributions.models import IdempotencyKey, LedgerEntry
from bungkesmas.mail.models import OutboxMessage
from bungkesmas.members.import_models import MemberImport  # noqa: F401
from bungkesmas.members.models import Counter, Enrollment, Group, Member, MemberRegistry
from bungkesmas.mous.models import Mou, MouComment, MouCounter, MouDocument
from bungkesmas.partners.models import Partner
from bungkesmas.payments.models import OnlinePayment, StripeEvent
from bungkesmas.products.models import PartnerProduct, Product, ProductVersion
from bungkesmas.reminders.models import Reminder
from bungkesmas.remittance.models import (
    RemittanceReceipt,
    RemittanceSettings,
    RemittanceStatement,
    RemittanceStatementLine,
)
from bungkesmas.transfers.models import TransferRequest, TransferRequestMember
from bungkesmas.waste.models import WasteCategory, WasteDeposit, WasteDepositLine, WastePrice

__all__ = [
    "ApiToken", "AuditEvent", "Counter", "Enrollment", "Group", "IdempotencyKey", "Invitation",
    "LedgerEntry", "Member", "MemberRegistry", "Mou", "MouComment", "MouCounter", "MouDocument",
    "OnlinePayment", "OutboxMessage", "Partner", "PartnerProduct", "PartnerStaff", "Product",
    "ProductVersion",
    "Reminder", "RemittanceReceipt", "RemittanceSettings", "RemittanceStatement",
    "RemittanceStatementLine", "StripeEvent", "TransferRequest", "TransferRequestMember", "User",
    "WasteCategory", "WasteDeposit", "WasteDepositLine", "WastePrice",
]
