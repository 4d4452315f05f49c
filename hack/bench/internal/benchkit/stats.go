package benchkit

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Median returns the median of s (the mean of the middle two when len(s) is
// even), 0 when s is empty. s is not changed.
func Median[S ~[]E, E ~int64 | ~float64](s S) E {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

// Quantile returns the sample nearest to quantile q (0..1) of s: 0 the
// least, 1 the greatest; 0 when s is empty. s is not changed.
func Quantile[S ~[]E, E ~int64 | ~float64](s S, q float64) E {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	return c[int(q*float64(len(c)-1)+0.5)]
}

// Join renders each of ds with format, separated by spaces.
func Join[S ~[]time.Duration](ds S, format func(time.Duration) string) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = format(d)
	}
	return strings.Join(parts, " ")
}

// Span renders the range of v with prec decimals: "3.1-4.2"; "" when v is
// empty.
func Span(v []float64, prec int) string {
	if len(v) == 0 {
		return ""
	}
	return fmt.Sprintf("%.*f-%.*f", prec, slices.Min(v), prec, slices.Max(v))
}
