"""Records, step kinds, pipelines, recipes, stats and errors."""
