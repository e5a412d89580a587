package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Usage is what `spanflow show` takes.
const Usage = "usage: spanflow show cache [verbose [N]|aggregation SCHEME]|export|top-talkers [N] [--sort bytes|packets|application] [--app NAME]|applications|stats|interfaces [--json] [--control PATH]"

// Help is `spanflow show --help`: Usage and what each view prints.
const Help = Usage + `

Asks the running spanflow (over its control socket) and prints:
  cache                    the flow cache, as show ip cache flow: packet sizes, timers,
                           expiries, flows by protocol (and application)
  cache verbose [N]        the N (100) largest one-way flows in the cache, as show ip cache
                           verbose flow: two lines a flow with the input and output
                           interfaces (names, Local, Null, - when unknown), ToS, TCP flags,
                           ports, masks and AS numbers, next hop, bytes a packet, seconds
  cache aggregation SCHEME the flows now in the cache folded by a v8 aggregation scheme,
                           as show ip cache flow aggregation: SCHEME is as --aggregation
                           takes it (as, protocol-port, source-prefix, destination-prefix,
                           prefix, destination, source-destination, full-flow, as-tos,
                           protocol-port-tos, source-prefix-tos, destination-prefix-tos,
                           prefix-tos, prefix-port, or 1-14)
  export                   the export streams, as show ip flow export
  top-talkers [N]          the N (10) largest flows in the cache, as show ip flow top-talkers;
                           DstIf as in cache verbose;
                           --sort bytes|packets|application, --app NAME keeps one application
  applications             the exported flows by application, and the active ones
  stats                    the XDP datapath's counters by outcome and the harvester's
  interfaces               the attached interfaces (XDP mode, TC egress hook), their events,
                           and the NIC's receive counters since attach beside what XDP
                           accounted

  --json          print JSON instead of text
  --control PATH  the control socket (default ` + DefaultPath + `)
`

// DefaultPath is where the control socket listens by default: in the
// directory the systemd unit's RuntimeDirectory= gives the daemon, so the
// unit needs no --control and `spanflow show` finds it with none either.
const DefaultPath = "/run/spanflow/spanflow.sock"

// Request is one line of JSON a client sends; the server answers
// with the text (or JSON) to print and closes the connection.
type Request struct {
	Show string   `json:"show"` // cache, export, top-talkers, applications, stats, interfaces
	Args []string `json:"args,omitempty"`
	JSON bool     `json:"json,omitempty"`
}

// Handler renders one show request into w.
type Handler func(req Request, w io.Writer) error

// Server serves `spanflow show` on a unix socket.
type Server struct {
	ln     net.Listener
	path   string
	handle Handler
}

// Listen opens the control socket with the given mode. A socket
// file a live spanflow still answers on is refused; a stale one is
// replaced. A missing directory is created (run by hand, without the
// unit's RuntimeDirectory=).
func Listen(path string, mode os.FileMode, handle Handler) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("--control %s: %w", path, err)
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return nil, fmt.Errorf("--control %s: in use by another running spanflow", path)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("--control %s: exists and is not a socket", path)
		}
		os.Remove(path) // stale socket of a run that died
	}
	old := syscall.Umask(0o177) // no window in which the socket is open to others
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("--control %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("--control %s: %w", path, err)
	}
	s := &Server{ln: ln, path: path, handle: handle}
	go s.serve()
	return s, nil
}

func (s *Server) serve() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.answer(conn)
	}
}

func (s *Server) answer(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(conn, 64<<10)).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		fmt.Fprintf(conn, "error: bad request: %v\n", err)
		return
	}
	if err := s.handle(req, conn); err != nil {
		fmt.Fprintf(conn, "error: %v\n", err)
	}
}

func (s *Server) Close() error {
	err := s.ln.Close() // also removes the socket file
	os.Remove(s.path)
	return err
}

// Query sends req to the running spanflow at path and copies its
// answer to w.
func Query(path string, req Request, w io.Writer) error {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return fmt.Errorf("no spanflow answers on %s (is it running? --control sets the path): %w", path, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	b, _ := json.Marshal(req)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	first, err := r.Peek(7)
	if err == nil && string(first) == "error: " {
		msg, _ := io.ReadAll(r)
		return errors.New(strings.TrimSpace(strings.TrimPrefix(string(msg), "error: ")))
	}
	_, err = io.Copy(w, r)
	return err
}
