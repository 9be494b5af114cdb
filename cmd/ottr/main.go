// Command ottr rotates TLS certificates on devices that cannot run an agent.
package main

import (
	"os"

	"github.com/ottr-go/ottr/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
