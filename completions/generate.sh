#!/usr/bin/env bash
# Regenerates the committed static completion scripts from the clap definition in src/cli/.
# Run it after changing a command, flag or value; the `completion_scripts_are_up_to_date` test
# fails until you do.
#
#   completions/generate.sh              # builds with cargo, then writes completions/*
#   completions/generate.sh path/to/bin  # uses an already built kubectl-gitops
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -gt 0 ]]; then
	bin=$1
else
	cargo build --quiet --bin kubectl-gitops
	bin="${CARGO_TARGET_DIR:-target}/debug/kubectl-gitops"
fi

"$bin" completion bash >completions/kubectl-gitops.bash
"$bin" completion zsh >completions/_kubectl-gitops
"$bin" completion fish >completions/kubectl-gitops.fish
"$bin" completion powershell >completions/kubectl-gitops.ps1
echo "generate: wrote completions/kubectl-gitops.bash, _kubectl-gitops, kubectl-gitops.fish, kubectl-gitops.ps1" >&2
