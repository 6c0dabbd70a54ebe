"""Thin Lambda entry points: parse, wire, delegate to `rekey.service`."""
