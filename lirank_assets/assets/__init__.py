"""Software-defined assets, one module per group: world, features, ranking, evaluation."""
