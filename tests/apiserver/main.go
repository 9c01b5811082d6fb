// Command apiserver runs a real kube-apiserver, backed by an embedded etcd, on 127.0.0.1 only.
//
// It is the control plane kubectl-gitops tests and benchmarks run against: the production API
// server code, not a mock. It has no controller-manager and no scheduler, so nothing reacts to
// objects; tests that need "a rollout finished" write status themselves.
//
// Everything it needs (CA, serving certificate, service-account key, token file, etcd data,
// kubeconfig) is written under --dir. When /readyz answers it prints one line, "ready <url>",
// on stdout. SIGTERM or SIGINT shut it down cleanly.
//
// Each start wipes the etcd data and writes new certificates, unless --keep-data is given:
// then the data, certificates and etcd ports of an earlier run under the same --dir are reused,
// so a server restarted with the same --dir and --port comes back with its objects and the
// kubeconfig written before stays valid (fault tests stop and restart it mid-apply).
//
// With --node-ip (the node cluster of `tests/cluster.sh up --node`), it serves a cluster that
// runs Pods: it also listens on that address and advertises it, so the `kubernetes` Service
// has a real endpoint Pods reach through kube-proxy, and the ServiceAccount admission gives
// Pods their tokens. Without it the flags stay those of the fast, API-server-only cluster.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// Tokens are fixed so a kubeconfig written by an earlier run stays valid; the server only ever
// listens on loopback.
const (
	adminToken      = "kubectl-gitops-admin-token"
	restrictedToken = "kubectl-gitops-restricted-token"
)

func main() {
	dir := flag.String("dir", "", "state directory (certificates, etcd data, kubeconfig)")
	port := flag.Int("port", 0, "secure port on 127.0.0.1 (0 picks a free one)")
	keep := flag.Bool("keep-data", false, "reuse the etcd data and certificates an earlier run left in --dir")
	nodeIP := flag.String("node-ip", "", "serve a node cluster: listen on and advertise this address too")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "apiserver: --dir is required")
		os.Exit(2)
	}
	var node net.IP
	if *nodeIP != "" {
		if node = net.ParseIP(*nodeIP); node == nil {
			fmt.Fprintf(os.Stderr, "apiserver: --node-ip %q is not an IP address\n", *nodeIP)
			os.Exit(2)
		}
	}
	os.Exit(run(*dir, *port, *keep, node))
}

func run(dir string, port int, keep bool, node net.IP) int {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	if port == 0 {
		p, err := freePort()
		if err != nil {
			return fail(err)
		}
		port = p
	}
	var pki *pkiFiles
	var err error
	if keep {
		pki, err = existingPKI(dir)
	}
	if pki == nil && err == nil {
		pki, err = writePKI(dir, node)
	}
	if err != nil {
		return fail(fmt.Errorf("writing certificates: %w", err))
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", port)
	if err := writeKubeconfig(dir, server, pki.caPEM); err != nil {
		return fail(fmt.Errorf("writing kubeconfig: %w", err))
	}

	etcd, etcdURL, err := startEtcd(dir, keep)
	if err != nil {
		return fail(fmt.Errorf("starting etcd: %w", err))
	}
	defer etcd.Close()

	go announceWhenReady(server, pki.caPEM)

	args := []string{
		"--etcd-servers=" + etcdURL,
		fmt.Sprintf("--secure-port=%d", port),
		"--tls-cert-file=" + pki.certFile,
		"--tls-private-key-file=" + pki.keyFile,
		"--client-ca-file=" + pki.caFile,
		"--token-auth-file=" + pki.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-signing-key-file=" + pki.saKeyFile,
		"--service-account-key-file=" + pki.saKeyFile,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--profiling=false",
		"--v=0",
	}
	if node == nil {
		// Loopback only, and nothing that waits for controllers this cluster does not run.
		args = append(args,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--endpoint-reconciler-type=none",
			"--disable-admission-plugins=ServiceAccount",
		)
	} else {
		// Pods reach the server at the node's address (a loopback endpoint is invalid), and
		// the default lease reconciler keeps the `kubernetes` Service's endpoint on it.
		// The kubelet listens on the node's address only; its host name may resolve to
		// loopback, so logs, exec and proxy go to the address.
		args = append(args,
			"--bind-address=0.0.0.0",
			"--advertise-address="+node.String(),
			"--kubelet-preferred-address-types=InternalIP,Hostname",
		)
	}
	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(args)
	// The command installs its own SIGTERM/SIGINT handling and returns once shut down.
	code := cli.Run(cmd)
	fmt.Fprintln(os.Stderr, "apiserver: stopped")
	return code
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "apiserver:", err)
	return 1
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startEtcd(dir string, keep bool) (*embed.Etcd, string, error) {
	dataDir := filepath.Join(dir, "etcd")
	portsFile := filepath.Join(dir, "etcd-ports")
	var clientPort, peerPort int
	if keep {
		// The member's URLs are recorded in its data: a restart uses the same ports.
		if text, err := os.ReadFile(portsFile); err == nil {
			fmt.Sscanf(string(text), "%d %d", &clientPort, &peerPort)
		}
	} else if err := os.RemoveAll(dataDir); err != nil {
		// A fresh data dir each start: tests isolate by namespace, and stale state would only
		// hide bugs.
		return nil, "", err
	}
	if clientPort == 0 || peerPort == 0 {
		var err error
		if clientPort, err = freePort(); err != nil {
			return nil, "", err
		}
		if peerPort, err = freePort(); err != nil {
			return nil, "", err
		}
		if err := os.WriteFile(portsFile, []byte(fmt.Sprintf("%d %d\n", clientPort, peerPort)), 0o600); err != nil {
			return nil, "", err
		}
	}
	cfg := embed.NewConfig()
	cfg.Dir = dataDir
	cfg.Name = "kubectl-gitops-test"
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	cfg.WatchProgressNotifyInterval = 5 * time.Second
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", fmt.Errorf("etcd not ready after 60s")
	}
	return e, clientURL.String(), nil
}

func announceWhenReady(server string, caPEM []byte) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	for {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Printf("ready %s\n", server)
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type pkiFiles struct {
	caPEM                                           []byte
	caFile, certFile, keyFile, saKeyFile, tokenFile string
}

func pkiPaths(dir string) *pkiFiles {
	return &pkiFiles{
		caFile:    filepath.Join(dir, "ca.crt"),
		certFile:  filepath.Join(dir, "apiserver.crt"),
		keyFile:   filepath.Join(dir, "apiserver.key"),
		saKeyFile: filepath.Join(dir, "sa.key"),
		tokenFile: filepath.Join(dir, "tokens.csv"),
	}
}

// existingPKI returns the certificates and keys an earlier run wrote, or nil when any is
// missing.
func existingPKI(dir string) (*pkiFiles, error) {
	p := pkiPaths(dir)
	for _, path := range []string{p.certFile, p.keyFile, p.saKeyFile, p.tokenFile} {
		if _, err := os.Stat(path); err != nil {
			if os.IsNotExist(err) {
				return nil, nil
			}
			return nil, err
		}
	}
	ca, err := os.ReadFile(p.caFile)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.caPEM = ca
	return p, nil
}

func writePKI(dir string, node net.IP) (*pkiFiles, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubectl-gitops-test-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
	}
	if node != nil {
		srvTmpl.IPAddresses = append(srvTmpl.IPAddresses, node)
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}

	p := pkiPaths(dir)
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	srvKeyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return nil, err
	}
	saKeyDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	// The admin is in system:masters; the restricted user has no bindings at all, so RBAC
	// refuses it everything a test does not grant explicitly.
	tokens := fmt.Sprintf("%s,admin,admin,\"system:masters\"\n%s,restricted,restricted\n",
		adminToken, restrictedToken)
	files := map[string][]byte{
		p.caFile:    p.caPEM,
		p.certFile:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		p.keyFile:   pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: srvKeyDER}),
		p.saKeyFile: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saKeyDER}),
		p.tokenFile: []byte(tokens),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// writeKubeconfig writes two contexts: "test" (admin, the current one) and "test-restricted"
// (a user without RBAC bindings).
func writeKubeconfig(dir, server string, caPEM []byte) error {
	ca := base64.StdEncoding.EncodeToString(caPEM)
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    token: %s
- name: restricted
  user:
    token: %s
contexts:
- name: test
  context:
    cluster: test
    user: admin
    namespace: default
- name: test-restricted
  context:
    cluster: test
    user: restricted
    namespace: default
current-context: test
`, server, ca, adminToken, restrictedToken)
	return os.WriteFile(filepath.Join(dir, "kubeconfig"), []byte(cfg), 0o600)
}
