// dapr_acl: the chart's Dapr access-control spec judged by daprd's own code (Dapr v1.18.2),
// for tests/static/test_chart.py. Reads {"spec": <accessControl>, "calls": [...]} on stdin
// and prints {"error": "...", "allowed": [true|false, ...]}.
//
// ParseAccessControlSpec is what a sidecar runs on its Configuration at start (an error
// there stops the sidecar); isOperationAllowedByAccessControlPolicy is what it runs on each
// service invocation it receives, with the caller's SPIFFE id from mTLS. The latter is not
// exported, so it is reached with go:linkname (hence -ldflags=-checklinkname=0).
//
// Built against runtime/daprd's go.mod (the Dapr module the local sidecar is built from):
//
//	cd runtime/daprd && GOFLAGS=-mod=readonly go run -ldflags=-checklinkname=0 ../../tests/static/dapr_acl/main.go
package main

import (
	"encoding/json"
	"os"
	_ "unsafe" // go:linkname

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/dapr/dapr/pkg/acl"
	"github.com/dapr/dapr/pkg/config"
	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	"github.com/dapr/dapr/pkg/security/spiffe"
)

//go:linkname isAllowed github.com/dapr/dapr/pkg/acl.isOperationAllowedByAccessControlPolicy
func isAllowed(id *spiffe.Parsed, operation string, verb commonv1pb.HTTPExtension_Verb, isHTTP bool, l *config.AccessControlList) (bool, string)

// call is one service invocation received by a sidecar of an HTTP app. An empty AppID is a
// caller with no SPIFFE id (Dapr mTLS off).
type call struct {
	TrustDomain string `json:"trustDomain"`
	Namespace   string `json:"namespace"`
	AppID       string `json:"appId"`
	Method      string `json:"method"`
	Verb        string `json:"verb"`
}

type input struct {
	Spec  config.AccessControlSpec `json:"spec"`
	Calls []call                   `json:"calls"`
}

type output struct {
	Error   string `json:"error,omitempty"`
	Allowed []bool `json:"allowed"`
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	out := output{Allowed: []bool{}}
	list, err := acl.ParseAccessControlSpec(&in.Spec, true)
	if err != nil {
		out.Error = err.Error()
	} else {
		for _, c := range in.Calls {
			var id *spiffe.Parsed
			if c.AppID != "" {
				id, err = spiffe.FromStrings(spiffeid.RequireTrustDomainFromString(c.TrustDomain), c.Namespace, c.AppID)
				if err != nil {
					panic(err)
				}
			}
			verb := commonv1pb.HTTPExtension_Verb(commonv1pb.HTTPExtension_Verb_value[c.Verb])
			ok, _ := isAllowed(id, c.Method, verb, true, list)
			out.Allowed = append(out.Allowed, ok)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
