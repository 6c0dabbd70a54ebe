"""rekey: rotate IAM user access keys across an AWS Organization."""

from .domain.release import VERSION as __version__

__all__ = ["__version__"]
