"""`make bench`: rekey's API calls, time and memory at organization scale, against a naive
per-user scan, on moto's in-process emulator. Run `python -m bench.run --help`."""
