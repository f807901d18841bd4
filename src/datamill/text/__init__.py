"""Language-aware text utilities shared by steps (word splitting, normalisation)."""
