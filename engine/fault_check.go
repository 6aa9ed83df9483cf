package engine

// CheckFault reports whether spec is a fault a server of kind would take
// (as AddFault or a start with it would), without any server: workshop mode
// checks a fault pushed to everyone before it reaches anyone's server. An
// unknown kind is an UnknownKindError.
func CheckFault(kind string, spec FaultSpec) error {
	k := serverKinds[kind]
	if k == nil {
		return &UnknownKindError{What: "server", Kind: kind, Valid: ServerKindNames()}
	}
	_, err := newFault(spec, k.Net == NetUDP, false)
	return err
}
