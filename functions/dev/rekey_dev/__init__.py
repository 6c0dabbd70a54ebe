"""Local stand-ins for what Lambda provides: the SQS event source, the emulator."""
