package spec

// Kubernetes quantities for spec.resources: memory in bytes and CPU in
// thousandths of a core, both written as decimal numbers with a suffix.

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// decimalRE is an unsigned decimal number without an exponent.
var decimalRE = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// parseMemory reads a memory quantity as Kubernetes does: a decimal number of
// bytes with an optional unit of parseSize's (k, M, G, T are powers of
// 1000; Ki, Mi, Gi, Ti of 1024), rounded up to a whole byte ("1.5Gi").
// Kubernetes's "m" (thousandths) is refused: "512m" is half a byte, never
// what was meant.
func parseMemory(s string) (int64, error) {
	if m, ok := strings.CutSuffix(strings.TrimSpace(s), "m"); ok && decimalRE.MatchString(strings.TrimSpace(m)) {
		m = strings.TrimSpace(m)
		return 0, fmt.Errorf("%q is %s thousandths of a byte (m is milli): write %sMi or %sM", s, m, m, m)
	}
	num, mult, ok := splitSize(s)
	if !ok || !decimalRE.MatchString(num) {
		return 0, fmt.Errorf("%q is not a memory quantity (examples: 536870912, 512Mi, 1.5Gi, 2G)", s)
	}
	n, ok := scaleUp(num, mult)
	if !ok {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n, nil
}

// parseMilliCPU reads a CPU quantity as Kubernetes does, in thousandths of a
// core: "500m", or a decimal number of cores ("0.5", "2"). A value finer
// than 1m is refused rather than rounded.
func parseMilliCPU(s string) (int64, error) {
	t := strings.TrimSpace(s)
	scale := int64(1000)
	if m, ok := strings.CutSuffix(t, "m"); ok {
		t, scale = m, 1
	}
	if !decimalRE.MatchString(t) {
		return 0, fmt.Errorf("%q is not a CPU quantity (examples: 500m, 0.5, 2)", s)
	}
	r, _ := new(big.Rat).SetString(t)
	r.Mul(r, new(big.Rat).SetInt64(scale))
	if !r.IsInt() {
		return 0, fmt.Errorf("%q is finer than 1m, a thousandth of a core", s)
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return r.Num().Int64(), nil
}
