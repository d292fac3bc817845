"""The callback engine's writes. See each module's docstring for the part of the lifecycle it owns."""
