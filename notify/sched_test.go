package notify_test

import (
	"bytes"
	"io"
	"time"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// pollPause is the pause between two looks of a poll with a deadline;
// the polled condition, not the pause, decides.
func pollPause() { time.Sleep(5 * time.Millisecond) }
