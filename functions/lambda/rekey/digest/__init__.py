"""The daily digest: once per sweep, one notification (`event=digest`) with the counts per
account and what needs a human, so a subscriber gets one message a day instead of hundreds.

Production: the sweep fans out to scan functions asynchronously, and workers act for hours
after (retries), so no function sees the whole day. Each part leaves a record on the hub's
*digest queue* (a standard SQS queue): the sweep the accounts it listed (`SweepStarted`), each
scan its account's result (`AccountScanned`), and every announcement arrives there through a
subscription of the queue to the topic (SNS envelopes; the digest itself filtered out). A
scheduled digest function, some hours after the sweep, empties the queue, builds the digest,
publishes it, and deletes what it read. The CLI builds the same digest in-process from the
sweep's results and the worker's announcements. One builder serves both.

Chosen over a DynamoDB table (a table, its capacity and its cleanup for one read a day) and
over counting in the functions (scans run in parallel Lambdas with no shared memory): the
queue keeps each record until it is read (4 days), costs nothing when idle, and holds exactly
what subscribers were told.

- `records`: what the sweep and the scans leave on the digest queue (versioned messages);
- `builder`: the pure builder, from records and announcements to the digest notification;
- `text`: the digest as plain text (its message, and what email subscribers read).
The use cases (recording, the scheduled digest, the CLI's digest): rekey.use_cases.digest."""
