"""The COPY loader: stream a file into staging tables, then merge it set-based.

A file is loaded in one transaction: either everything valid in it is committed (with its
rejected records, sessions and rollups) or nothing is. Progress and heartbeat go through a
separate autocommit connection so pages can watch a run that has not committed yet.
"""

from ingest.loader.core import LoadReport, load_file

__all__ = ["LoadReport", "load_file"]
