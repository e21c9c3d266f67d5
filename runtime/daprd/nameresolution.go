package main

import (
	"github.com/dapr/components-contrib/nameresolution/sqlite"
	nrLoader "github.com/dapr/dapr/pkg/components/nameresolution"
)

// nameresolution.sqlite is not part of Dapr's stablecomponents set. The local
// stack resolves app ids through a SQLite file in its run folder instead of
// mDNS: mDNS has no namespaces, so two stacks on one machine (a second
// checkout with its ports shifted) would answer each other's service
// invocations.
func init() {
	nrLoader.DefaultRegistry.RegisterComponent(sqlite.NewResolver, "sqlite")
}
