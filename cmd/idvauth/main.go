// Command idvauth is the idvauth authorization server and its operator CLI.
//
//	idvauth serve --dev          # the one-command demo
//	idvauth clients list         # through the admin API
//	idvauth version
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr))
}
