package parley

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses a duration like Go's time.ParseDuration, and also
// whole days and weeks: "90d", "2w", "36h". Retention windows are usually
// said in days.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			// !(v >= 0) also refuses NaN; past the largest Duration the
			// conversion would wrap to a negative one.
			if err != nil || !(v >= 0) || v*float64(unit) >= math.MaxInt64 {
				return 0, Errorf(EBadRequest, "%q is not a duration (examples: 90d, 2w, 36h, 15m).", s)
			}
			return time.Duration(v * float64(unit)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, Errorf(EBadRequest, "%q is not a duration (examples: 90d, 2w, 36h, 15m).", s)
	}
	return d, nil
}

// FormatDuration prints d in the largest whole unit of days, hours,
// minutes or seconds that represents it exactly, e.g. "90d" or "36h".
func FormatDuration(d time.Duration) string {
	day := 24 * time.Hour
	switch {
	case d >= day && d%day == 0:
		return strconv.FormatInt(int64(d/day), 10) + "d"
	default:
		return d.String()
	}
}
