"""tsforge."""
