// Package container holds what idvauth needs to run in a container:
// secrets read from the files a platform mounts, and the health probe an
// image's HEALTHCHECK runs (images carry no curl).
package container

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// SecretFiles returns env in which each variable of names whose _FILE
// variable is set (IDVAUTH_ADMIN_TOKEN_FILE) reads as that file's content,
// without its trailing line break. Setting both a variable and its _FILE,
// an unreadable file or an empty one is an error, which names the
// variable and never the content.
func SecretFiles(env func(string) (string, bool), names []string) (func(string) (string, bool), error) {
	vals := map[string]string{}
	for _, name := range names {
		path, ok := env(name + "_FILE")
		if !ok || path == "" {
			continue
		}
		if v, ok := env(name); ok && v != "" {
			return nil, fmt.Errorf("%s and %s_FILE are both set: set one", name, name)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s_FILE: %w", name, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return nil, fmt.Errorf("%s_FILE: %s is empty", name, path)
		}
		vals[name] = v
	}
	if len(vals) == 0 {
		return env, nil
	}
	return func(k string) (string, bool) {
		if v, ok := vals[k]; ok {
			return v, true
		}
		return env(k)
	}, nil
}

// Probe says which health endpoint Health asks.
type Probe struct {
	// URL is the base URL of the public listener; if empty, it is Addr's.
	URL string
	// Addr is the public listener's host:port; an unspecified host
	// (0.0.0.0, ::) is asked on loopback.
	Addr string
	// TLS: Addr serves HTTPS. Health asks it without checking the
	// certificate, which names the issuer's host, not this address; it
	// sends nothing and reads only the status. A URL is checked normally.
	TLS bool
	// Live asks /health/live (the process serves) instead of
	// /health/ready (store reachable, signing key active).
	Live bool
}

// Timeout bounds one Health call.
const Timeout = 5 * time.Second

// HealthDoc describes the health command that runs Health.
const HealthDoc = `Ask /health/ready (--live: /health/live) on the public listener at the
address serve would use (an unspecified host is asked on loopback; with
IDVAUTH_TLS_CERT over HTTPS, without checking the certificate) or at --url,
and exit 0 if it answers 200. The image's HEALTHCHECK runs it: the image
has no curl.`

// Health asks the endpoint p names and prints "ok: PATH answered 200" to
// out, or returns an error saying what it asked and what went wrong.
func Health(ctx context.Context, out io.Writer, p Probe) error {
	path, err := health(ctx, p)
	switch {
	case err != nil && p.URL == "":
		return fmt.Errorf("health: public address %s: %w", p.Addr, err)
	case err != nil:
		return fmt.Errorf("health: %w", err)
	}
	_, err = fmt.Fprintf(out, "ok: %s answered 200\n", path)
	return err
}

func health(ctx context.Context, p Probe) (string, error) {
	client := &http.Client{Timeout: Timeout}
	base := p.URL
	if base == "" {
		host, port, err := net.SplitHostPort(p.Addr)
		if err != nil {
			return "", errors.New("not host:port")
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		base = "http://" + net.JoinHostPort(host, port)
		if p.TLS {
			base = "https://" + net.JoinHostPort(host, port)
			client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		}
	}
	path := "/health/ready"
	if p.Live {
		path = "/health/live"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %d", path, resp.StatusCode)
	}
	return path, nil
}
