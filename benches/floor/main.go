// Command floor is the baseline for benches/diff.sh: the requests a server-side diff cannot
// avoid (one LIST per kind and namespace holding several objects, a GET for a lone object, one
// server-side apply dry-run PATCH per object), issued by the simplest loop there is: a fixed
// pool of workers draining a queue. No discovery, no parsing of answers, no diffing. Whatever a
// real tool spends above this is its own overhead.
//
// Usage:
//
//	floor -objects objects.jsonl -kubeconfig-json kc.json [-concurrency 8,16,32,64] [-runs 5]
//	      [-protocols h1,h2] [-warmup=false]
//	floor -objects live.jsonl -kubeconfig-json kc.json -apply-manager NAME
//
// With -apply-manager, it is the benchmark's set-up instead: one real server-side apply per
// object with that field manager (forced), 32 at a time, untimed; kubectl apply sends the
// same PATCH one object at a time, which takes minutes at 5,000 objects.
//
// objects.jsonl (written by benches/diff.sh) has one object per line:
//
//	{"file": "/tmp/.../cm-1.yaml", "item": "/api/v1/namespaces/ns/configmaps/cm-1",
//	 "collection": "/api/v1/namespaces/ns/configmaps"}
//
// kc.json is `kubectl config view --raw --minify --flatten -o json`: stdlib JSON instead of a
// YAML parser, and kubectl has already picked the current context for us.
//
// Every combination of protocol (HTTP/1.1 with a connection per worker, HTTP/2 multiplexed on
// one connection as client-go does) and concurrency is timed -runs times; each run uses a fresh
// transport, so TLS handshakes are paid as a real command pays them. The last line of output is
// "best SECONDS PROTOCOL CONCURRENCY" for the script to read.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The query kubectl-gitops sends with each dry-run (src/ssa/plan.rs).
const dryRunQuery = "?dryRun=All&fieldManager=kubectl-gitops&force=true"

type object struct {
	File       string `json:"file"`
	Item       string `json:"item"`
	Collection string `json:"collection"`
	body       []byte
}

type request struct {
	method string
	path   string
	body   []byte
}

type kubeconfig struct {
	Clusters []struct {
		Cluster struct {
			Server string `json:"server"`
			CAData string `json:"certificate-authority-data"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		User struct {
			Token string `json:"token"`
		} `json:"user"`
	} `json:"users"`
}

func main() {
	objectsPath := flag.String("objects", "", "JSON-lines file of objects")
	kubeconfigPath := flag.String("kubeconfig-json", "", "minified, flattened kubeconfig as JSON")
	concurrencies := flag.String("concurrency", "8,16,32,64", "comma-separated worker counts to try")
	runs := flag.Int("runs", 5, "timed runs per combination (the median is reported)")
	protocols := flag.String("protocols", "h1,h2", "comma-separated protocols to try: h1 (HTTP/1.1), h2 (HTTP/2)")
	warmup := flag.Bool("warmup", true, "one untimed pass first")
	applyManager := flag.String("apply-manager", "", "apply the objects for real with this field manager, and time nothing")
	flag.Parse()

	server, tlsConfig, token, err := loadKubeconfig(*kubeconfigPath)
	check(err)
	objects, err := loadObjects(*objectsPath)
	check(err)
	if *applyManager != "" {
		var applies []request
		for _, o := range objects {
			query := "?fieldManager=" + *applyManager + "&force=true"
			applies = append(applies, request{method: "PATCH", path: o.Item + query, body: o.body})
		}
		_, err = run(server, tlsConfig, token, applies, 32, false)
		check(err)
		return
	}
	requests := plan(objects)

	// One untimed pass so the first combination does not pay for a cold server.
	if *warmup {
		_, err = run(server, tlsConfig, token, requests, 16, true)
		check(err)
	}

	best, bestProto, bestConc := 0.0, "", 0
	for _, proto := range strings.Split(*protocols, ",") {
		if proto != "h1" && proto != "h2" {
			check(fmt.Errorf("unknown protocol %q (want h1 or h2)", proto))
		}
		for _, field := range strings.Split(*concurrencies, ",") {
			conc, err := strconv.Atoi(strings.TrimSpace(field))
			check(err)
			times := make([]float64, 0, *runs)
			for i := 0; i < *runs; i++ {
				t, err := run(server, tlsConfig, token, requests, conc, proto == "h2")
				check(err)
				times = append(times, t)
			}
			sort.Float64s(times)
			median := times[len(times)/2]
			fmt.Printf("floor %s concurrency=%d requests=%d median=%.3fs\n",
				proto, conc, len(requests), median)
			if bestProto == "" || median < best {
				best, bestProto, bestConc = median, proto, conc
			}
		}
	}
	fmt.Printf("best %.3f %s %d\n", best, bestProto, bestConc)
}

// plan lists the requests: reads grouped by collection as kubectl-gitops groups them (a LIST
// for two or more objects, a GET for one), then a dry-run PATCH per object.
func plan(objects []object) []request {
	groups := map[string][]object{}
	var order []string
	for _, o := range objects {
		if _, seen := groups[o.Collection]; !seen {
			order = append(order, o.Collection)
		}
		groups[o.Collection] = append(groups[o.Collection], o)
	}
	var requests []request
	for _, collection := range order {
		members := groups[collection]
		if len(members) >= 2 {
			requests = append(requests, request{method: "GET", path: collection})
		} else {
			requests = append(requests, request{method: "GET", path: members[0].Item})
		}
	}
	for _, o := range objects {
		requests = append(requests, request{method: "PATCH", path: o.Item + dryRunQuery, body: o.body})
	}
	return requests
}

// run issues every request with `workers` workers and returns the wall time in seconds.
func run(server string, tlsConfig *tls.Config, token string, requests []request, workers int, h2 bool) (float64, error) {
	transport := &http.Transport{
		TLSClientConfig:     tlsConfig.Clone(),
		ForceAttemptHTTP2:   h2,
		MaxIdleConnsPerHost: workers, // the default (2) would reconnect for most requests
	}
	if !h2 {
		// A non-nil, empty map is how net/http is told not to negotiate HTTP/2.
		transport.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 60 * time.Second}

	queue := make(chan request)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range queue {
				if err := do(client, server, token, r); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, r := range requests {
		queue <- r
	}
	close(queue)
	wg.Wait()
	return time.Since(start).Seconds(), firstErr
}

func do(client *http.Client, server, token string, r request) error {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, server+r.path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if r.method == "PATCH" {
		// The manifest files are YAML; the server parses them itself. (kubectl-gitops sends
		// JSON; measured on this server, the body format makes no difference in its CPU time.)
		req.Header.Set("Content-Type", "application/apply-patch+yaml")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body) // read to the end so the connection is reused
	if err != nil {
		return err
	}
	// A GET of an object that is not there yet is a normal answer in a diff.
	if resp.StatusCode/100 != 2 && !(r.method == "GET" && resp.StatusCode == 404) {
		return fmt.Errorf("%s %s: %s: %.300s", r.method, r.path, resp.Status, answer)
	}
	return nil
}

func loadKubeconfig(path string) (string, *tls.Config, string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", nil, "", err
	}
	var kc kubeconfig
	if err := json.Unmarshal(raw, &kc); err != nil {
		return "", nil, "", fmt.Errorf("%s: %w", path, err)
	}
	if len(kc.Clusters) != 1 || len(kc.Users) != 1 || kc.Users[0].User.Token == "" {
		return "", nil, "", fmt.Errorf("%s: want one cluster and one user with a bearer token (a minified kubeconfig)", path)
	}
	cluster := kc.Clusters[0].Cluster
	pem, err := base64.StdEncoding.DecodeString(cluster.CAData)
	if err != nil {
		return "", nil, "", fmt.Errorf("certificate-authority-data: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return "", nil, "", fmt.Errorf("certificate-authority-data holds no PEM certificate")
	}
	return strings.TrimRight(cluster.Server, "/"), &tls.Config{RootCAs: pool}, kc.Users[0].User.Token, nil
}

func loadObjects(path string) ([]object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var objects []object
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		var o object
		if err := json.Unmarshal(scanner.Bytes(), &o); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		// Read the bodies before timing: the floor measures requests, not disk.
		if o.body, err = os.ReadFile(o.File); err != nil {
			return nil, err
		}
		objects = append(objects, o)
	}
	return objects, scanner.Err()
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(2)
	}
}
