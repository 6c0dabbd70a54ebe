"""Thin Lambda entry points: parse, wire, delegate to `rekey.use_cases`. Each module has its
Lambda `handler(event, context)` and `process(...)`, the same invocation in-process with the
caller's runtime (the CLI, the demo, tests), which publishes no metrics of its own."""
