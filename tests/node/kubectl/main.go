// Command kubectl is kubectl v1.36.3 built from the same pinned modules as the test cluster,
// for the image of the release binary (tests/image.sh): the in-cluster reconciler runs
// `kubectl kustomize`, and the image must carry the kubectl the Dockerfile does.
package main

import (
	"os"

	_ "k8s.io/client-go/plugin/pkg/client/auth" // client auth plugins, as kubectl's own main
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	// The verbosity is read before the command exists, as kubectl's own main does: building
	// the command already logs.
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
