"""Online payment of contributions through Stripe Checkout: pay links, the checkout
session, the signed webhook that records the money in the ledger exactly once, and the
provider's list and reconciliation."""
