package usage

import "testing"

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		sec  float64
		want string
	}{
		{0, "0.0s"}, {-1, "0.0s"}, {0.04, "0.0s"}, {1.23, "1.2s"}, {59.9, "59.9s"}, {59.96, "1m0s"},
		{192, "3m12s"}, {3599.4, "59m59s"}, {3600, "1h0m"}, {26*3600 + 5*60 + 10, "26h5m"},
	} {
		if got := FormatCPU(c.sec); got != c.want {
			t.Errorf("FormatCPU(%v) = %q, want %q", c.sec, got, c.want)
		}
	}
	for _, c := range []struct {
		bytes int64
		want  string
	}{
		{0, "0B"}, {-5, "0B"}, {512, "512B"}, {1023, "1023B"}, {1024, "1.0Ki"}, {4096, "4.0Ki"},
		{12<<20 + 512<<10, "12.5Mi"}, {1023 << 20, "1023.0Mi"}, {1024<<20 - 1, "1.0Gi"}, {3 << 30, "3.0Gi"},
		{5 << 40, "5.0Ti"}, {2048 << 40, "2048.0Ti"},
	} {
		if got := FormatMemory(c.bytes); got != c.want {
			t.Errorf("FormatMemory(%d) = %q, want %q", c.bytes, got, c.want)
		}
	}
}
