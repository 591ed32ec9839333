"""Contributions: the money ledger, the coverage it buys, receipts and remittance."""
