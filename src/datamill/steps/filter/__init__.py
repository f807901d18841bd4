"""Generic decisions on stored signals (``signal_filter``)."""
