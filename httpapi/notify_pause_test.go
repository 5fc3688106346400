package httpapi_test

import "time"

// pollPause is the pause between two looks of a poll with a deadline;
// the condition polled, not the pause, decides the outcome.
func pollPause() { time.Sleep(5 * time.Millisecond) }
