"""The web workplace for billing clerks, evaluators and auditors (ADR 0017)."""
