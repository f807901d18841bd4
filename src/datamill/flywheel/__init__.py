"""The data flywheel: production chat logs with feedback -> SFT, preference and KTO records with
provenance, cleaned, uncertain items to the annotation app, one catalog version per round.

``ingest`` (datamill flywheel ingest), ``read_logs``, ``derive_records``, ``simulate_logs``.
"""

from datamill.flywheel.derive import derive_records
from datamill.flywheel.logs import read_logs
from datamill.flywheel.round import ingest

__all__ = ["ingest", "read_logs", "derive_records"]
