package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/httpapi"
)

// fileOptions are serve's limits of shared files (README, "Configuration";
// docs/security.md, "Files").
type fileOptions struct {
	maxSize, quota   int64
	types            []string
	uploadsPerMinute int
}

func (o *fileOptions) addFlags(f *pflag.FlagSet) {
	f.Var(newSizeValue(chat.DefaultMaxFileSize, &o.maxSize), "max-file-size", "largest file customers and agents may upload (e.g. 10MiB)")
	f.Var(newSizeValue(chat.DefaultCustomerFileQuota, &o.quota), "customer-file-quota", "bytes of stored files one customer may have uploaded, until retention purges them (0: no quota)")
	f.StringSliceVar(&o.types, "file-types", chat.DefaultFileTypes, "content types (sniffed from the bytes) accepted for upload; type/* allows a whole type")
	f.IntVar(&o.uploadsPerMinute, "uploads-per-minute", httpapi.DefaultUploadsPerMinute, "uploads one customer or agent may make per minute (0: no limit)")
}

// chat sets the file limits of a chat.Config.
func (o *fileOptions) chat(c chat.Config) chat.Config {
	c.MaxFileSize = o.maxSize
	c.CustomerFileQuota = o.quota
	if o.quota == 0 {
		c.CustomerFileQuota = -1
	}
	c.FileTypes = o.types
	return c
}

// http sets the file limits of an httpapi.Config.
func (o *fileOptions) http(c httpapi.Config) httpapi.Config {
	c.Files.UploadsPerMinute = unlimited(o.uploadsPerMinute)
	return c
}

// sizeValue is a flag value of a size in bytes: a number with an optional
// unit (B, KiB, MiB, GiB; K, KB, M, MB, G, GB count in powers of 1024 too).
type sizeValue int64

func newSizeValue(v int64, p *int64) *sizeValue {
	*p = v
	return (*sizeValue)(p)
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
}

func (s *sizeValue) Set(v string) error {
	v = strings.TrimSpace(v)
	i := strings.IndexFunc(v, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := v, ""
	if i >= 0 {
		num, unit = v[:i], strings.ToLower(strings.TrimSpace(v[i:]))
	}
	mult, ok := sizeUnits[unit]
	n, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || n < 0 || n*float64(mult) > 1<<50 {
		return errors.New("a size is a number of bytes with an optional unit, such as 10MiB or 512KiB")
	}
	*s = sizeValue(n * float64(mult))
	return nil
}

func (s *sizeValue) Type() string { return "size" }

func (s *sizeValue) String() string {
	n := int64(*s)
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return strconv.FormatInt(n, 10)
}
