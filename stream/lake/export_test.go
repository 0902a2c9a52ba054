package lake

// SetCompactHook makes Compact fail after the named step; "" restores normal runs.
func SetCompactHook(step string) {
	compactHook = func(s string) error {
		if s == step {
			return errCrash
		}
		return nil
	}
}

var errCrash = crashError{}

type crashError struct{}

func (crashError) Error() string { return "simulated crash" }
