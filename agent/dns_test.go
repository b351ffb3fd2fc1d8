package agent

import "testing"

func TestIngressIP(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{IngressBind: "0.0.0.0"}, "10.0.0.1"},
		{Config{IngressBind: "::"}, "10.0.0.1"},
		{Config{IngressBind: "192.168.1.5"}, "192.168.1.5"},
		{Config{IngressBind: "0.0.0.0", NoIngress: true}, "<nil>"},
	} {
		if got := ingressIP(tc.cfg, "10.0.0.1").String(); got != tc.want {
			t.Errorf("ingress bind %q, no ingress %v: %s, want %s", tc.cfg.IngressBind, tc.cfg.NoIngress, got, tc.want)
		}
	}
}
