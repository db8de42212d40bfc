"""Data lifecycle: retention, privacy deletion, export and import, migration from MLflow."""
