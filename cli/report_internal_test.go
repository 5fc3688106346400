package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReportDuration(t *testing.T) {
	for s, want := range map[float64]string{
		0: "0s", 1.25: "1.25s", 9.999: "9.999s", 10.4: "10s", 45: "45s", 60: "1m", 90: "1m30s",
		3600: "1h", 27000: "7h30m", 7205: "2h0m5s", 36000: "10h", 86400 + 60: "24h1m",
	} {
		assert.Equal(t, want, reportDuration(s), "%v seconds", s)
	}
	assert.Equal(t, "-", reportSeconds(nil))
}
