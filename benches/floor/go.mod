module kubectl-gitops/benches/floor

go 1.22
