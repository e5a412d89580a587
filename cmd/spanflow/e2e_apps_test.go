package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/spanflow/spanflow/cmd/internal/flowprint"
	"github.com/spanflow/spanflow/exporter/exportertest"
	"github.com/spanflow/spanflow/probe/probetest"
)

// TestE2EWebServerOn9090IsHTTPByPayload is the lecture's example run live:
// a web server on port 9090 (no port spanflow knows for HTTP), a client
// fetching a page from it, and spanflow on the server's interface with
// default flags. The flow to 9090 must come out as HTTP by payload, with
// the host the client asked for, in --print=json and in show top-talkers.
func TestE2EWebServerOn9090IsHTTPByPayload(t *testing.T) {
	probetest.RequireRoot(t)
	bin := spanflowBinary(t)
	s := probetest.NewReplayNet(t)
	const client, server = "198.18.0.1", "198.18.0.2"
	for _, a := range []struct {
		ns   *probetest.NetNS
		dev  string
		addr string
	}{{s.Sender, s.TxName, client}, {s.Capture, s.RxName, server}} {
		if err := a.ns.Run(exec.Command("ip", "addr", "add", a.addr+"/24", "dev", a.dev)); err != nil {
			t.Fatalf("ip addr add %s dev %s: %v", a.addr, a.dev, err)
		}
	}

	// The web server listens inside the capture namespace.
	var ln net.Listener
	if err := s.Capture.Do(func() (err error) {
		ln, err = net.Listen("tcp", server+":9090")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from the lecture's web server")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	var out exportertest.Buffer
	control := e2eControlPath(t)
	cmd := exec.Command(bin, "-i", s.RxName, "--xdp-mode", "native", "--print=json",
		"--harvest-interval", "100ms", "--control", control, "--pin-dir", e2ePinDir(t))
	cmd.Stdout = &out
	d := &e2eDaemon{Proc: e2eStart(t, s.Capture, "spanflow", cmd), bin: bin, control: control}
	if !exportertest.Within(15*time.Second, func() bool { _, err := d.show("stats"); return err == nil || !d.Running() }) || !d.Running() {
		t.Fatalf("spanflow not answering within 15 s; its log:\n%s", d.Out.String())
	}

	// The client dials from the sender namespace.
	httpClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = s.Sender.Do(func() error {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
		DisableKeepAlives: true,
	}}
	resp, err := httpClient.Get("http://" + server + ":9090/index.html")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	// While the flow is in the cache, top-talkers names its application.
	var tt struct {
		Flows []struct {
			DstPort     uint16
			Application string
			AppVerdict  string
		}
	}
	if !exportertest.Within(5*time.Second, func() bool {
		d.showJSON(t, &tt, "top-talkers")
		for _, f := range tt.Flows {
			if f.DstPort == 9090 && f.Application == "HTTP" {
				return true
			}
		}
		return false
	}) {
		t.Errorf("show top-talkers never named the flow to 9090 HTTP: %+v", tt.Flows)
	}

	if code := d.Stop(t, syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("spanflow exited with %d:\n%s", code, d.Out.String())
	}
	recs := jsonLines[flowprint.JSON](t, "spanflow --print=json", []byte(out.String()))
	found := 0
	for _, r := range recs {
		if r.DstPort != 9090 || r.DstAddr.String() != server {
			continue
		}
		found++
		// The Host header's port is not part of the server's name.
		if r.Application != "HTTP" || r.AppVerdict != "payload" || r.AppServer != server {
			t.Errorf("flow to 9090: application %q (%s), server %q; want HTTP by payload, server %s",
				r.Application, r.AppVerdict, r.AppServer, server)
		}
	}
	if found == 0 {
		t.Fatalf("no record of the flow to %s:9090 in:\n%s\nlog:\n%s", server, out.String(), d.Out.String())
	}
}
