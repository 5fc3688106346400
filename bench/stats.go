package bench

import (
	"math"
	"slices"
)

// percentiles returns the given quantiles (0..1) of xs, sorting xs in
// place; all zero when xs is empty.
func percentiles(xs []float64, qs ...float64) []float64 {
	out := make([]float64, len(qs))
	if len(xs) == 0 {
		return out
	}
	slices.Sort(xs)
	for i, q := range qs {
		k := int(math.Ceil(q*float64(len(xs)))) - 1
		out[i] = round3(xs[max(0, min(k, len(xs)-1))])
	}
	return out
}

// round3 rounds to three decimals, for readable JSON.
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
