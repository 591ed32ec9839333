"""MOUs: the agreement between the provider and one partner, its lifecycle, documents,
effects (who may enroll members) and expiry."""
