package engine

import (
	"encoding/json"
	"slices"
)

// Restoring a server's faults after a restart. The recording has what it
// needs: a server-start's meta "faults" lists the faults it started with
// (as Fault values), and every later change is a fault event on the
// server (no conn) whose meta has "change" ("added", "changed", "on",
// "off", "removed") and the fault as it is after the change ("fault",
// "type", "direction", "toxicity", "attributes", "enabled"). Folding them
// with ApplyFaultChange gives the faults the server had when it stopped;
// FaultSpecs turns them into ServerSpec.Faults for the start that restores
// it.
//
// What the recorder would do (sessions/recorder.go, rememberServers): keep
// a faults column (JSON, a list of Fault) in lab_servers, set from
// server-start's StartFaults and updated with ApplyFaultChange for every
// fault event of that server with a "change", in the same transaction;
// main then restores with ServerSpec{…, Faults: FaultSpecs(list)}. A fault
// the restoring start refuses (a type this version no longer has) is an
// OptionError like a bad option: the server is shown stopped with
// ERESTORE.

// StartFaults returns the faults a server-start event's meta lists (none:
// nil). meta may come from the engine or decoded from the recording.
func StartFaults(meta map[string]any) []Fault {
	raw, ok := meta["faults"]
	if !ok {
		return nil
	}
	var list []Fault
	if b, err := json.Marshal(raw); err == nil {
		json.Unmarshal(b, &list)
	}
	return list
}

// ApplyFaultChange applies the change a fault event's meta describes to
// list and returns the new list; a fault event that acted (no "change")
// leaves it as it is.
func ApplyFaultChange(list []Fault, meta map[string]any) []Fault {
	change, _ := meta["change"].(string)
	if change == "" {
		return list
	}
	var f Fault
	b, err := json.Marshal(map[string]any{"name": meta["fault"], "type": meta["type"], "direction": meta["direction"],
		"toxicity": meta["toxicity"], "attributes": meta["attributes"], "enabled": meta["enabled"]})
	if err != nil || json.Unmarshal(b, &f) != nil || f.Name == "" {
		return list
	}
	i := slices.IndexFunc(list, func(g Fault) bool { return g.Name == f.Name })
	switch {
	case change == "removed":
		if i >= 0 {
			list = slices.Delete(slices.Clone(list), i, i+1)
		}
	case i >= 0:
		list = slices.Clone(list)
		list[i] = f
	default:
		list = append(slices.Clone(list), f)
	}
	return list
}

// FaultSpecs returns what adds faults again as they are (ServerSpec.Faults).
func FaultSpecs(list []Fault) []FaultSpec {
	out := make([]FaultSpec, len(list))
	for i, f := range list {
		out[i] = f.Spec()
	}
	return out
}
