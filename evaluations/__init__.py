"""Team and vendor evaluations: SLA metrics and measurements (see docs/evaluations.md)."""
