"""Small helpers shared by every subpackage (validation, atomic file writes)."""
