"""rekey's use cases, on ports (rekey.ports) only: shared by the Lambda handlers, the CLI and the
local runtime.

- `sweep`: the organization's accounts in scope; one sweep in-process, or the Lambda's fan-out;
- `scan`: one account's tagged users, judged and decided, as work items and findings;
- `work`: one work item (or an operator's request) carried out, after re-checking everything;
- `digest`: the records the sweep and scans leave, and the daily digest built from them;
- `announce`: the notifications they all publish."""
