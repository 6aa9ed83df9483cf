package engine

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestDialPolicyCheck(t *testing.T) {
	p := &DialPolicy{LabPorts: policyPorts}
	tests := []struct {
		target     string
		allowed    bool
		wantTarget string // the target a refusal names (unmapped)
		wantReason string // a word the refusal's reason contains
	}{
		// The lab's own servers.
		{"127.0.0.1:21000", true, "", ""},
		{"127.0.0.1:21999", true, "", ""},
		{"127.0.0.2:21500", true, "", ""},
		{"[::1]:21500", true, "", ""},
		{"[::ffff:127.0.0.1]:21000", true, "", ""},
		// Other local services.
		{"127.0.0.1:20999", false, "127.0.0.1:20999", "lab ports"},
		{"127.0.0.1:22000", false, "127.0.0.1:22000", "lab ports"},
		{"127.0.0.1:22", false, "127.0.0.1:22", "lab ports"},
		{"[::1]:8080", false, "[::1]:8080", "lab ports"},
		{"[::ffff:127.0.0.1]:5432", false, "127.0.0.1:5432", "lab ports"},
		// The unspecified address, which Linux routes to loopback.
		{"0.0.0.0:21000", false, "0.0.0.0:21000", "unspecified"},
		{"[::]:21000", false, "[::]:21000", "unspecified"},
		{"[::ffff:0.0.0.0]:21000", false, "0.0.0.0:21000", "unspecified"},
		// Link-local and cloud metadata, on any port.
		{"169.254.169.254:80", false, "169.254.169.254:80", "metadata"},
		{"169.254.169.254:21000", false, "169.254.169.254:21000", "metadata"},
		{"169.254.1.1:80", false, "169.254.1.1:80", "link-local"},
		{"[::ffff:169.254.169.254]:80", false, "169.254.169.254:80", "metadata"},
		{"[fe80::1]:80", false, "[fe80::1]:80", "link-local"},
		{"100.100.100.200:80", false, "100.100.100.200:80", "metadata"},
		{"[fd00:ec2::254]:80", false, "[fd00:ec2::254]:80", "metadata"},
		// Everything else.
		{"10.0.0.1:80", false, "10.0.0.1:80", "lab servers"},
		{"8.8.8.8:53", false, "8.8.8.8:53", "lab servers"},
		{"[2001:db8::1]:21000", false, "[2001:db8::1]:21000", "lab servers"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			err := p.Check(netip.MustParseAddrPort(tt.target))
			if tt.allowed {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want allowed", tt.target, err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("Check(%s) = %v, want *RefusedError", tt.target, err)
			}
			if re.Target != tt.wantTarget || !strings.Contains(re.Reason, tt.wantReason) {
				t.Errorf("refused %q because %q; want target %q and a reason about %q", re.Target, re.Reason, tt.wantTarget, tt.wantReason)
			}
		})
	}
}

func TestDialPolicyParseAllow(t *testing.T) {
	tests := []struct {
		allow   string
		target  string
		allowed bool
	}{
		// Naming a metadata or link-local address is the way to allow it.
		{"169.254.169.254/32", "169.254.169.254:80", true},
		{"169.254.169.254/32", "169.254.169.253:80", false},
		{"169.254.169.254", "169.254.169.254:8080", true},
		{"169.254.169.254:80", "169.254.169.254:80", true},
		{"169.254.169.254:80", "169.254.169.254:81", false},
		{"fe80::/10", "[fe80::1]:80", true},
		{"fd00:ec2::254", "[fd00:ec2::254]:80", true},
		{"100.100.100.200/32", "100.100.100.200:80", true},
		// CIDRs (masked), single IPs and ip:port.
		{"10.0.0.0/8", "10.1.2.3:443", true},
		{"10.0.0.0/8", "[::ffff:10.1.2.3]:443", true},
		{"10.0.0.0/8", "11.0.0.1:443", false},
		{"10.1.2.3/8", "10.200.0.1:80", true},
		{"192.0.2.7", "192.0.2.7:1", true},
		{"192.0.2.7", "192.0.2.8:1", false},
		{"192.0.2.7:8080", "192.0.2.7:8080", true},
		{"192.0.2.7:8080", "192.0.2.7:8081", false},
		{"[2001:db8::1]:443", "[2001:db8::1]:443", true},
		{"2001:db8::/32", "[2001:db8::5]:22", true},
		// A local service outside the lab range, by name.
		{"127.0.0.1:5432", "127.0.0.1:5432", true},
		{"127.0.0.1:5432", "127.0.0.1:5433", false},
	}
	for _, tt := range tests {
		t.Run(tt.allow+"/"+tt.target, func(t *testing.T) {
			p := &DialPolicy{LabPorts: policyPorts}
			target := netip.MustParseAddrPort(tt.target)
			if err := p.Check(target); err == nil {
				t.Fatalf("Check(%s) allowed before %q was allowed", tt.target, tt.allow)
			}
			if err := p.ParseAllow(tt.allow); err != nil {
				t.Fatalf("ParseAllow(%q): %v", tt.allow, err)
			}
			err := p.Check(target)
			if tt.allowed && err != nil {
				t.Errorf("after ParseAllow(%q), Check(%s) = %v, want allowed", tt.allow, tt.target, err)
			}
			if !tt.allowed && err == nil {
				t.Errorf("after ParseAllow(%q), Check(%s) allowed, want refused", tt.allow, tt.target)
			}
			// The lab itself stays reachable.
			if err := p.Check(netip.MustParseAddrPort("127.0.0.1:21000")); err != nil {
				t.Errorf("lab port refused after ParseAllow(%q): %v", tt.allow, err)
			}
		})
	}
}

func TestDialPolicyParseAllowRejectsBadInput(t *testing.T) {
	for _, in := range []string{"", " ", "example.com", "localhost:80", "10.0.0.0/33", "300.1.2.3", "10.0.0.1:99999", "10.0.0.1:", "10.0.0.1:http", "10.0.0.0/8,10.1.0.0/16"} {
		p := &DialPolicy{LabPorts: policyPorts}
		err := p.ParseAllow(in)
		if err == nil {
			t.Errorf("ParseAllow(%q) = nil, want an error", in)
			continue
		}
		if !strings.Contains(err.Error(), strconv.Quote(in)) {
			t.Errorf("ParseAllow(%q) = %q, want the input quoted in the error", in, err)
		}
		if len(p.AllowPrefixes) != 0 || len(p.AllowAddrs) != 0 {
			t.Errorf("ParseAllow(%q) failed but changed the policy: %v %v", in, p.AllowPrefixes, p.AllowAddrs)
		}
	}
}

func TestDialPolicyControlRefusesNonIP(t *testing.T) {
	p := &DialPolicy{LabPorts: policyPorts}
	err := p.Control("tcp", "localhost:21000", nil)
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("Control with a host name: %v, want *RefusedError", err)
	}
}

// Dialing a link-local IPv6 address needs its zone ("%eth0"): connect(2)
// to a bare fe80:: address fails with EINVAL. So naming fe80::/10 as allowed
// must allow the zoned addresses the dialer really passes to Control.
func TestDialPolicyAllowedLinkLocalKeepsZone(t *testing.T) {
	p := &DialPolicy{LabPorts: policyPorts}
	if err := p.ParseAllow("fe80::/10"); err != nil {
		t.Fatal(err)
	}
	if err := p.Control("tcp", "[fe80::1%eth0]:80", nil); err != nil {
		t.Errorf("after allowing fe80::/10, Control([fe80::1%%eth0]:80) = %v, want allowed", err)
	}
	// And without the allow, a zoned link-local address is refused as
	// link-local, not as some other address.
	var re *RefusedError
	err := (&DialPolicy{LabPorts: policyPorts}).Control("tcp", "[fe80::1%eth0]:80", nil)
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "link-local") {
		t.Errorf("Control([fe80::1%%eth0]:80) = %v, want refused as link-local", err)
	}
}

// An operator may write an allowed address the way the dialer may meet it,
// IPv4-mapped; the policy unmaps what it judges, so it must read allow
// entries the same way.
func TestDialPolicyParseAllowReadsMappedAddresses(t *testing.T) {
	for _, allow := range []string{"[::ffff:192.0.2.7]:8080", "::ffff:192.0.2.7", "::ffff:192.0.2.0/120"} {
		p := &DialPolicy{LabPorts: policyPorts}
		if err := p.ParseAllow(allow); err != nil {
			t.Fatalf("ParseAllow(%q): %v", allow, err)
		}
		for _, target := range []string{"192.0.2.7:8080", "[::ffff:192.0.2.7]:8080"} {
			if err := p.Check(netip.MustParseAddrPort(target)); err != nil {
				t.Errorf("after ParseAllow(%q), Check(%s) = %v, want allowed", allow, target, err)
			}
		}
	}
}

// childEnv marks the run of this test binary that TestDialerJudgesResolvedAddressCResolver starts.
const childEnv = "SOCKPLAY_ENGINE_TEST_CHILD"

// The policy judges the address the dialer really connects to, after name
// resolution, so odd spellings of loopback reach the lab's servers and
// nothing else.
func TestDialerJudgesResolvedAddress(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"mode":"echo"}`)
	labPort := strconv.Itoa(portNum(t, srv.Addr))
	outside := listenLoopback(t, 0)
	outsidePort := strconv.Itoa(portNum(t, outside.Addr().String()))
	d := lab.policy.Dialer()
	d.Timeout = waitTimeout
	accepted := 0
	for _, host := range []string{"127.0.0.1", "127.1", "2130706433", "::ffff:127.0.0.1"} {
		t.Run(host, func(t *testing.T) {
			c, err := d.Dial("tcp", net.JoinHostPort(host, labPort))
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) {
				// Go's own resolver reads neither 127.1 nor 2130706433 as an
				// address (the C library's inet_aton does, and tutorials use
				// it); TestDialerJudgesResolvedAddressCResolver runs these
				// cases again with the C resolver.
				t.Skipf("%s does not resolve here: %v", host, err)
			}
			if err != nil {
				t.Fatalf("dial %s:%s (the lab server): %v", host, labPort, err)
			}
			c.Close()
			accepted++
			sink.waitFor(t, "the server's accept", func(evs []Event) bool {
				return len(filter(evs, KindAccept, srv.ID)) == accepted
			})

			_, err = d.Dial("tcp", net.JoinHostPort(host, outsidePort))
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("dial %s:%s (outside the lab): %v, want *RefusedError", host, outsidePort, err)
			}
			if want := "127.0.0.1:" + outsidePort; re.Target != want {
				t.Errorf("refused target %q, want the resolved %q", re.Target, want)
			}
			if pendingConn(t, outside) {
				t.Errorf("a connection reached %s", outside.Addr())
			}
		})
	}
}

// TestDialerJudgesResolvedAddressCResolver runs TestDialerJudgesResolvedAddress
// in a child process that resolves names with the C library, which reads
// 127.1 and 2130706433 as 127.0.0.1 without asking DNS.
func TestDialerJudgesResolvedAddressCResolver(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDialerJudgesResolvedAddress$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "GODEBUG=netdns=cgo", childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skipf("the C resolver is not available in this build:\n%s", out)
	}
	if !strings.Contains(string(out), "--- PASS: TestDialerJudgesResolvedAddress/127.1") {
		t.Errorf("child did not run the 127.1 case:\n%s", out)
	}
}

// policyPorts is the lab range the policy tables above are written for. The
// policy only compares numbers, so it is fixed whatever SOCKPLAY_TEST_SLOT
// gives the tests that open sockets.
var policyPorts = PortRange{First: 21000, Last: 21999}
