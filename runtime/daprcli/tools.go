//go:build tools

// Package tools pins the Dapr CLI; install.sh builds it with
// `go build github.com/dapr/cli` from this module.
package tools

import _ "github.com/dapr/cli"
