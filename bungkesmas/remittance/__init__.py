"""Remittance: what each partner collected per period, its fee share, what it owes the
provider, what the provider received, and the reconciliation of the two."""
