//go:build !linux

package clock

// Read reports that this platform's clock error is not known.
func Read() Status {
	return Status{Source: "unavailable", Err: "clock error bounds are read on Linux only"}
}
