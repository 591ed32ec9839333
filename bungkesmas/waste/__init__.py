"""Waste bank (bank sampah): waste categories, price lists and deposits paid as contributions."""
