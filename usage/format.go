package usage

import (
	"fmt"
	"math"
)

// FormatCPU writes CPU seconds for a table: 0.4s, 12.5s, 3m12s, 26h5m.
func FormatCPU(seconds float64) string {
	if seconds < 59.95 {
		return fmt.Sprintf("%.1fs", math.Max(seconds, 0))
	}
	s := int64(math.Round(seconds))
	if s < 3600 {
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%dm", s/3600, s/60%60)
}

// FormatMemory writes bytes for a table in the binary units resources are
// given in: 512B, 4.0Ki, 12.5Mi, 1.2Gi.
func FormatMemory(bytes int64) string {
	if bytes < 1024 {
		return fmt.Sprintf("%dB", max(bytes, 0))
	}
	v := float64(bytes)
	for _, unit := range []string{"Ki", "Mi", "Gi", "Ti"} {
		v /= 1024
		if v < 1023.95 || unit == "Ti" {
			return fmt.Sprintf("%.1f%s", v, unit)
		}
	}
	return "" // not reached: Ti takes every larger figure
}
