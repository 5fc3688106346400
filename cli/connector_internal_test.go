package cli

import (
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/httpapi"
)

// TestConnectorRateFlag: --connector-rate defaults to 50 per second with
// bursts of 100, sets the burst to twice the rate, and 0 lifts the limit
// (a negative rate in httpapi.Config).
func TestConnectorRateFlag(t *testing.T) {
	parse := func(args ...string) httpapi.Config {
		var o notifyOptions
		f := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		o.addFlags(f)
		require.NoError(t, f.Parse(args))
		return o.http(httpapi.Config{})
	}
	c := parse()
	assert.Equal(t, float64(httpapi.DefaultConnectorRate), c.ConnectorRate)
	assert.Equal(t, httpapi.DefaultConnectorBurst, c.ConnectorBurst)
	c = parse("--connector-rate", "5")
	assert.Equal(t, 5.0, c.ConnectorRate)
	assert.Equal(t, 10, c.ConnectorBurst)
	c = parse("--connector-rate", "0")
	assert.Negative(t, c.ConnectorRate, "0 on the command line is no limit")
}
