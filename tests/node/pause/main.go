// Command pause is the node cluster's Pod sandbox process: it holds the Pod's namespaces open,
// reaps the orphans handed to it as PID 1, and exits on SIGTERM or SIGINT. It is what
// registry.k8s.io/pause does, built here so the test node needs no registry.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			return
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
