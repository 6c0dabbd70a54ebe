"""One module per AWS service. Each adapter is given its client and maps AWS error codes to
domain errors. Each declares the IAM actions it calls (`PERMISSIONS`), checked against the
templates by the tests."""
