"""Roles map to permissions in one table; views declare the permission they need."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    PROVIDER_ADMIN = "provider_admin"
    PROVIDER_STAFF = "provider_staff"
    PARTNER_ADMIN = "partner_admin"
    PARTNER_OFFICER = "partner_officer"


PROVIDER_ROLES = (Role.PROVIDER_ADMIN, Role.PROVIDER_STAFF)
PARTNER_ROLES = (Role.PARTNER_ADMIN, Role.PARTNER_OFFICER)


class Permission(enum.StrEnum):
    # provider side
    PARTNERS_VIEW = "partners.view"
    PARTNERS_REVIEW = "partners.review"  # approve, reject, ask for information
    PARTNERS_MANAGE = "partners.manage"  # suspend, reinstate, terminate, set parent
    AUDIT_VIEW = "audit.view"
    OUTBOX_VIEW = "outbox.view"
    PRODUCTS_MANAGE = "products.manage"
    MEMBERS_TRANSFER = "members.transfer"
    REMITTANCE_MANAGE = "remittance.manage"  # settings, receipts, closing periods
    MOUS_VIEW = "mous.view"
    MOUS_MANAGE = "mous.manage"  # draft, send, countersign, terminate, renew; hosting
    ONLINE_PAYMENTS_VIEW = "online_payments.view"  # the list and its reconciliation
    # partner side
    WORKSPACE_VIEW = "workspace.view"
    STAFF_VIEW = "staff.view"
    STAFF_MANAGE = "staff.manage"
    PROFILE_EDIT = "profile.edit"
    TOKENS_MANAGE = "tokens.manage"
    MEMBERS_VIEW = "members.view"
    MEMBERS_MANAGE = "members.manage"  # register, edit, enroll, import
    MEMBERS_EXPORT = "members.export"
    NIK_REVEAL = "members.reveal_nik"
    GROUPS_MANAGE = "groups.manage"
    CARDS_PRINT = "members.cards_print"    # member cards (PDF with the status QR code)
    CARDS_REVOKE = "members.cards_revoke"  # make every printed card of a member invalid
    ENROLLMENTS_CANCEL = "members.enrollment_cancel"  # end an enrollment (with a reason)
    PARTNER_AUDIT_VIEW = "partner_audit.view"
    PARTNER_MOU_VIEW = "partner_mou.view"
    PARTNER_MOU_SIGN = "partner_mou.sign"  # comment, ask for changes, sign
    # offer members to another partner, ask for a member by NIK, accept/decline/cancel
    MEMBERS_TRANSFER_REQUEST = "members.transfer_request"
    CONTRIBUTIONS_RECORD = "contributions.record"    # record payments, issue receipts
    CONTRIBUTIONS_REVERSE = "contributions.reverse"  # reverse a ledger row (with a reason)
    SAVINGS_WITHDRAW = "contributions.withdraw"      # pay savings back to a member
    RECEIPTS_VIEW = "receipts.view"
    WASTE_VIEW = "waste.view"                # a waste bank's price list and deposits
    WASTE_PRICES_MANAGE = "waste.prices"     # categories and prices
    WASTE_DEPOSITS_RECORD = "waste.deposit"  # weigh a deposit, credit the member
    # both sides: statements and reconciliation (the provider's across partners)
    REMITTANCE_VIEW = "remittance.view"
    REMITTANCE_CLOSE = "remittance.close"  # close a period: issue its statement
    PAY_LINKS_SEND = "payments.link"  # give a member a link to pay online


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PROVIDER_ADMIN: frozenset({
        Permission.PARTNERS_VIEW, Permission.PARTNERS_REVIEW, Permission.PARTNERS_MANAGE,
        Permission.AUDIT_VIEW, Permission.OUTBOX_VIEW, Permission.PRODUCTS_MANAGE,
        Permission.MEMBERS_TRANSFER, Permission.REMITTANCE_VIEW, Permission.REMITTANCE_MANAGE,
        Permission.MOUS_VIEW, Permission.MOUS_MANAGE, Permission.ONLINE_PAYMENTS_VIEW,
    }),
    Role.PROVIDER_STAFF: frozenset({Permission.PARTNERS_VIEW, Permission.PARTNERS_REVIEW,
                                    Permission.REMITTANCE_VIEW, Permission.MOUS_VIEW,
                                    Permission.ONLINE_PAYMENTS_VIEW}),
    Role.PARTNER_ADMIN: frozenset({
        Permission.WORKSPACE_VIEW, Permission.STAFF_VIEW, Permission.STAFF_MANAGE,
        Permission.PROFILE_EDIT, Permission.TOKENS_MANAGE, Permission.MEMBERS_VIEW,
        Permission.MEMBERS_MANAGE, Permission.MEMBERS_EXPORT, Permission.NIK_REVEAL,
        Permission.GROUPS_MANAGE, Permission.PARTNER_AUDIT_VIEW, Permission.PARTNER_MOU_VIEW,
        Permission.CARDS_PRINT, Permission.CARDS_REVOKE, Permission.ENROLLMENTS_CANCEL,
        Permission.PARTNER_MOU_SIGN,
        Permission.MEMBERS_TRANSFER_REQUEST,
        Permission.CONTRIBUTIONS_RECORD, Permission.CONTRIBUTIONS_REVERSE,
        Permission.SAVINGS_WITHDRAW, Permission.RECEIPTS_VIEW,
        Permission.WASTE_VIEW, Permission.WASTE_PRICES_MANAGE, Permission.WASTE_DEPOSITS_RECORD,
        Permission.REMITTANCE_VIEW, Permission.REMITTANCE_CLOSE, Permission.PAY_LINKS_SEND,
    }),
    Role.PARTNER_OFFICER: frozenset({
        Permission.WORKSPACE_VIEW, Permission.STAFF_VIEW, Permission.MEMBERS_VIEW,
        Permission.MEMBERS_MANAGE, Permission.GROUPS_MANAGE, Permission.CARDS_PRINT,
        Permission.CONTRIBUTIONS_RECORD, Permission.RECEIPTS_VIEW,
        Permission.WASTE_VIEW, Permission.WASTE_DEPOSITS_RECORD, Permission.PAY_LINKS_SEND,
    }),
}

# What a parent partner's staff may do in a descendant's workspace: look, not change.
DESCENDANT_PERMISSIONS = frozenset({
    Permission.WORKSPACE_VIEW, Permission.STAFF_VIEW, Permission.MEMBERS_VIEW,
    Permission.RECEIPTS_VIEW, Permission.WASTE_VIEW, Permission.REMITTANCE_VIEW})
