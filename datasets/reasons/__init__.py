"""reasons."""
