package main

import (
	"github.com/dapr/components-contrib/bindings/smtp"
	"github.com/dapr/dapr/pkg/components/bindings"
)

// bindings.smtp is not part of Dapr's stablecomponents set; workflow-host's
// notifier mails approvers through it, so register it explicitly.
func init() {
	bindings.DefaultRegistry.RegisterOutputBinding(smtp.NewSMTP, "smtp")
}
