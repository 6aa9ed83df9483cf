package engine

// SetFaultPipeline turns the fault pipeline of newly accepted connections
// on (the default) or off, for the benchmarks' baseline.
func SetFaultPipeline(on bool) { faultsDetached.Store(!on) }
