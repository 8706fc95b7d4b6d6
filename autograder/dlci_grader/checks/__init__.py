"""Hidden-test check functions, one module per task; pure functions of plain arrays."""
