//go:build tools

// Package tools pins the control-plane commands built from the same module
// graph as daprd (go build github.com/dapr/dapr/cmd/placement etc.).
package tools

import (
	_ "github.com/dapr/dapr/cmd/injector"
	_ "github.com/dapr/dapr/cmd/operator"
	_ "github.com/dapr/dapr/cmd/placement"
	_ "github.com/dapr/dapr/cmd/scheduler"
	_ "github.com/dapr/dapr/cmd/sentry"
)
