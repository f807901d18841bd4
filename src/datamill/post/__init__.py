"""Post-training data: chat schema, format conversion, validation, cleaning, selection."""
