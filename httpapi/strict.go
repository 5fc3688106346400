package httpapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/parley-chat/parley/parley"
)

// This file holds the strict checks every JSON input (WebSocket frames and
// HTTP bodies) passes besides encoding/json: the bytes must be valid UTF-8
// (encoding/json silently turns invalid bytes into U+FFFD), and a key that
// matches a known field only when case is ignored ("TYPE") is refused
// (encoding/json would take it for "type"). Unknown keys stay allowed, so
// newer clients keep working. Trailing data after the value is refused by
// json.Unmarshal itself, which is why bodies are read whole and decoded
// with it rather than with a json.Decoder.

// checkStrict checks data, already known to be one valid JSON value, for
// invalid UTF-8 and for top-level keys that only match a field of v's
// struct type when case is ignored.
func checkStrict(data []byte, v any) error {
	if !utf8.Valid(data) {
		return parley.Errorf(parley.EBadRequest, "JSON must be valid UTF-8.")
	}
	known := knownKeys(reflect.TypeOf(v))
	if len(known) == 0 {
		return nil
	}
	var bad string
	topLevelKeys(data, func(k string) bool {
		if _, ok := known[k]; ok {
			return true
		}
		for name := range known {
			if strings.EqualFold(name, k) {
				bad = k
				return false
			}
		}
		return true
	})
	if bad != "" {
		return parley.Errorf(parley.EBadRequest, "Unknown key %q: keys are case-sensitive.", truncate(bad, 32))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// keyCache holds the JSON field names of each struct type by type.
var keyCache sync.Map // reflect.Type -> map[string]struct{}

// knownKeys returns the JSON names of the fields of t (a struct or a
// pointer to one), including those of embedded structs.
func knownKeys(t reflect.Type) map[string]struct{} {
	if t == nil {
		return nil
	}
	if m, ok := keyCache.Load(t); ok {
		return m.(map[string]struct{})
	}
	m := make(map[string]struct{})
	addKeys(t, m)
	keyCache.Store(t, m)
	return m
}

func addKeys(t reflect.Type, m map[string]struct{}) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			addKeys(f.Type, m)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = struct{}{}
	}
}

// topLevelKeys calls fn with each key of the JSON object in data, which
// must be valid JSON, until fn returns false. Anything but an object has
// no keys.
func topLevelKeys(data []byte, fn func(string) bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(data, i)
		if i >= len(data) || data[i] != '"' {
			return // '}' or malformed
		}
		end := skipString(data, i)
		var key string
		if err := json.Unmarshal(data[i:end], &key); err != nil {
			return
		}
		if !fn(key) {
			return
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return
		}
		i = skipValue(data, skipSpace(data, i+1))
		i = skipSpace(data, i)
		if i >= len(data) || data[i] != ',' {
			return
		}
		i++
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just after the string starting at i.
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(data)
}

// skipValue returns the index just after the value starting at i.
func skipValue(data []byte, i int) int {
	depth := 0
	for i < len(data) {
		switch c := data[i]; c {
		case '"':
			i = skipString(data, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth <= 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}
