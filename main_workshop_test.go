package main

import (
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Workshop mode's settings come from flags or SOCKPLAY_* variables; the
// password only from its variable; bad values are refused with a reason.
func TestWorkshopConfig(t *testing.T) {
	env := map[string]string{"SOCKPLAY_WORKSHOP": "true", "SOCKPLAY_INSTRUCTOR_PASSWORD": "pw from env",
		"SOCKPLAY_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7"}
	c, err := parseConfig([]string{"-max-joins", "5", "-instructor-ttl", "2h"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}
	if !c.Workshop || c.InstructorPassword != "pw from env" || c.MaxJoins != 5 || c.InstructorTTL != 2*time.Hour ||
		c.MaxParticipantSessions != 1 || c.SecureCookies || len(c.TrustedProxies) != 2 || c.TrustedProxies[0] != want[0] || c.TrustedProxies[1] != want[1] {
		t.Errorf("config %+v", c)
	}
	off, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil || off.Workshop {
		t.Errorf("default: workshop %v, %v; want off", off.Workshop, err)
	}
	for _, bad := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"SOCKPLAY_WORKSHOP": "yes please"}, "SOCKPLAY_WORKSHOP"},
		{[]string{"-trusted-proxies", "proxy.example"}, nil, "not an IP address or CIDR"},
		{[]string{"-max-joins", "-1"}, nil, "max-joins must be 0"},
		{[]string{"-instructor-ttl", "0s"}, nil, "instructor-ttl must be positive"},
		{[]string{"-instructor-password", "x"}, nil, "not defined"}, // no flag: it would show in ps
	} {
		_, err := parseConfig(bad.args, func(k string) string { return bad.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v %v: %v; want an error saying %q", bad.args, bad.env, err, bad.want)
		}
	}
}
