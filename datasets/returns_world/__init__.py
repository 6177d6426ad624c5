"""returns_world."""
