// Package consume is the one consumer-group runtime of shopstream. It owns
// the franz-go group options, one worker goroutine per assigned partition
// (records of a partition are handled in order), pause/resume of fetching
// (backlog and due-time holds), marking offsets only once a handler made its
// effect durable, periodic commits after a BeforeCommit hook, revoke/lost
// handling and draining on shutdown.
//
// A flow is a handler plus a commit policy:
//   - Config.Handle (per record): nil from the handler marks the record.
//   - Config.HandleRun (per run): the handler gets the partition's due
//     records queued behind the head; it says how many it handled.
//   - Config.HandleBatch (per batch): the handler gets a batch; nil marks it.
//   - Config.HandleDeferred (deferred): the handler marks records itself,
//     later, through the Marker it is given (e.g. after an upload succeeded).
//
// ReadSnapshot reads a topic up to end offsets fixed at call time (replay,
// catalog state), without a group.
//
// It imports connectors/kafka for client construction; connectors/kafka must
// not import it. It knows nothing of pipeline or schemas.
package consume
