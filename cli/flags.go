package cli

import (
	"errors"
	"time"

	"github.com/parley-chat/parley/parley"
)

// durationValue is a flag value that accepts days and weeks ("90d", "2w")
// as well as Go durations ("36h").
type durationValue time.Duration

func newDurationValue(d time.Duration, p *time.Duration) *durationValue {
	*p = d
	return (*durationValue)(p)
}

func (d *durationValue) Set(s string) error {
	v, err := parley.ParseDuration(s)
	if err != nil {
		// A plain error, so pflag and bindEnv can say which flag or
		// variable it came from.
		return errors.New(parley.ErrorMessage(err))
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) Type() string   { return "duration" }
func (d *durationValue) String() string { return parley.FormatDuration(time.Duration(*d)) }
