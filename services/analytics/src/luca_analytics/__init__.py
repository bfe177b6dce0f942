"""Analytics: the table's changes as a partitioned Parquet lake, and per-school reports over it."""
