"""Contributions: the money ledger, coverage and receipts."""
