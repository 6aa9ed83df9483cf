//go:build !linux

package engine

// peerCredMeta: SO_PEERCRED is Linux's; elsewhere the accept has no peer meta.
func peerCredMeta(*Conn) map[string]any { return nil }
