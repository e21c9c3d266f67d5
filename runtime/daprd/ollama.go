package main

import (
	"github.com/dapr/components-contrib/conversation/ollama"
	"github.com/dapr/dapr/pkg/components/conversation"
)

// conversation.ollama is not part of Dapr's stablecomponents set; Snacktopus'
// LLM path depends on it, so register it explicitly.
func init() {
	conversation.DefaultRegistry.RegisterComponent(ollama.NewOllama, "ollama")
}
