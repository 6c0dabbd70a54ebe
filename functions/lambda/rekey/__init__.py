"""rekey: rotate IAM user access keys across an AWS Organization."""

__version__ = "0.1.0"
