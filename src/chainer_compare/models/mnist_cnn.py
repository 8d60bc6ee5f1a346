"""Placeholder: this family is being written (see models/__init__.py)."""
