// Package deploy holds Parley's deployment files, not code: the systemd
// units (parley.service, parley-backup.service and .timer), the compose
// file and Caddyfile, and the Grafana dashboard. Its tests check them,
// together with the repository's Dockerfile, against the binary: the
// variables they set name real flags, the dashboard queries real metrics,
// the units pass systemd-analyze verify. docs/deploy.md explains them.
package deploy
