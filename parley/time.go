package parley

import (
	"bytes"
	"time"
)

// TimeLayout is the wire format of times: RFC 3339 in UTC with exactly
// millisecond precision.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Time is a point in time that encodes as TimeLayout in JSON. The zero Time
// encodes as null; use the omitzero tag option to leave it out.
type Time struct{ time.Time }

// TimeOf returns t in UTC, truncated to millisecond precision, so that what
// is stored, compared and sent are the same value.
func TimeOf(t time.Time) Time {
	if t.IsZero() {
		return Time{}
	}
	return Time{t.UTC().Truncate(time.Millisecond)}
}

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON implements json.Unmarshaler. It accepts any RFC 3339 time.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Time{}
		return nil
	}
	var v time.Time
	if err := v.UnmarshalJSON(b); err != nil {
		return err
	}
	*t = TimeOf(v)
	return nil
}
