"""Pure helpers shared by both tiers. Nothing here imports a Django app of echoshare."""
