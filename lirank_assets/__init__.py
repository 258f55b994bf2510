"""lirank_assets package."""
