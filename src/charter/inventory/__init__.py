"""The inventory: models (AI systems), their versions and lifecycle, datasets, artifacts and model cards."""
