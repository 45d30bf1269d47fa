"""Table sources (CSV, Parquet): issue 4."""
