// Package sessions records what the engine does and serves it back: a SQLite
// store (embedded migrations, WAL, synchronous=FULL), the Recorder that
// implements engine.Sink with a single writer goroutine committing batches and
// numbering events gaplessly per session, and the Hub that fans committed
// batches out to live subscribers without ever blocking the engine.
//
// The path of one event (docs/architecture.md): Emit queues it (waiting only when the
// queue is full, i.e. the disk is behind); the writer assigns the session's
// next seq and commits the batch in one transaction; only then does the Hub
// publish it. The live stream is therefore exactly the tail of the store, and
// a subscriber that overflows its bounded buffer is told which seqs it missed
// (a gap) and fetches them from the store.
package sessions
