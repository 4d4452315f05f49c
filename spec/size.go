package spec

// ParseSize reads a size as a manifest's maxSize does (50MiB, 500K,
// 1.5GiB, a bare number of bytes), for the command line's size flags.
func ParseSize(s string) (int64, error) { return parseSize(s) }
