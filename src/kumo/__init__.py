"""kumo: a compute-cloud controller that gets every guest right from its image's metadata."""

__version__ = "0.1.0"
