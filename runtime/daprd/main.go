// Command daprd is Snacktopus' build of the Dapr v1.18.2 sidecar.
//
// Why a flavour of our own: upstream release binaries cannot be downloaded on
// air-gapped machines, and the Go module proxy refuses v1.18.3. We build the
// upstream entry point from the v1.18.2 module with the "stablecomponents"
// set (state.redis, pubsub.redis, secretstores.local.file, ...) plus the two
// conversation components Snacktopus needs: ollama (registered in ollama.go,
// it is outside the stable set) and echo (build tag conversation_echo, used by
// the overhead benchmark).
package main

import "github.com/dapr/dapr/cmd/daprd/app"

func main() {
	app.Run()
}
