// Command k8s is one multi-call binary holding upstream's kube-apiserver,
// kube-controller-manager and kube-proxy, built from k8s.io/kubernetes at the
// release its go.mod pins. One binary links the shared code once (smaller and
// faster to build than three). The command is chosen by the name it runs as
// (a symlink named kube-proxy) or by its first argument (k8s kube-proxy ...);
// each runs through upstream's own constructor and k8s.io/component-base/cli.Run,
// as upstream's mains do.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
)

// commands maps a command name to upstream's constructor.
var commands = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-proxy":              proxy.NewProxyCommand,
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: k8s kube-apiserver|kube-controller-manager|kube-proxy [flags] | k8s version")
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if _, ok := commands[name]; !ok {
		if len(args) == 0 {
			usage()
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	if name == "version" {
		// The gitVersion stamped at build time, as /version reports it.
		fmt.Println(version.Get().GitVersion)
		return
	}
	newCommand, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "k8s: unknown command %q\n", name)
		usage()
		os.Exit(2)
	}
	// Upstream's commands read their name from os.Args[0] in help and logs.
	os.Args = append([]string{name}, args...)
	command := newCommand()
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}
