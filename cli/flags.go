package cli

import (
	"errors"
	"strings"
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

// offDurationValue is a durationValue whose zero turns a feature off, so
// it also takes the words "off" and "never" for zero, as operators write
// them in unit files ("--reply-timeout off").
type offDurationValue time.Duration

func newOffDurationValue(d time.Duration, p *time.Duration) *offDurationValue {
	*p = d
	return (*offDurationValue)(p)
}

func (d *offDurationValue) Set(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "never":
		*d = 0
		return nil
	}
	return (*durationValue)(d).Set(s)
}

func (d *offDurationValue) Type() string { return "duration" }

func (d *offDurationValue) String() string {
	if *d == 0 {
		return "off"
	}
	return (*durationValue)(d).String()
}
