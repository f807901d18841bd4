"""Run statistics and human summaries (later: plots, HTML reports, datasheets)."""
