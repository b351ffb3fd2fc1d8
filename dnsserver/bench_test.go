package dnsserver

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/structs"
)

// benchState is a replica of 10 nodes and 100 services of 3 running tasks
// each, built through the state machine's own commands.
func benchState(b *testing.B) *fsm.FSM {
	b.Helper()
	c := fsmtest.New()
	ctx := context.Background()
	commit := func(t fsm.CommandType, body any) {
		if _, err := c.Commit(ctx, t, body); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		commit(fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: fmt.Sprintf("n%d", i), Name: fmt.Sprintf("node-%d", i),
			Address: fmt.Sprintf("10.0.0.%d:7071", i+1), Status: structs.NodeReady, Eligibility: structs.EligibilityEligible,
			CPU: 4096, MemoryMiB: 4096, PortMin: 20000, PortMax: 32767}})
	}
	var updates []fsm.TaskStatusUpdate
	for s := 0; s < 100; s++ {
		name := fmt.Sprintf("svc-%d", s)
		td := &structs.TaskDefinition{Family: name, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img",
			PortMappings: []structs.PortMapping{{ContainerPort: 8080}}}}}
		commit(fsm.CmdApplyService, fsm.ApplyService{Service: structs.Service{Name: name, DesiredCount: 3}, TaskDefinition: td})
		var place []structs.Task
		for i := 0; i < 3; i++ {
			id := fmt.Sprintf("%s-task-%d", name, i)
			node := fmt.Sprintf("n%d", (s+i)%10)
			place = append(place, structs.Task{ID: id, Service: name, TaskDefinition: name + ":1", Node: node,
				DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending, HostPorts: []int{20000 + s}})
			updates = append(updates, fsm.TaskStatusUpdate{ID: id, Node: node, LastStatus: structs.StatusRunning, At: 1,
				Containers: []structs.ContainerState{{Name: "app", Status: "running"}}})
		}
		commit(fsm.CmdCommitPlan, fsm.CommitPlan{Place: place})
	}
	commit(fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: updates})
	return c.FSM
}

// fixedAnswer is a miekg/dns server that answers every query with one
// fixed A record: the floor of the library and the loopback network,
// which BenchmarkDNS measures beside the agent's server.
func fixedAnswer(b *testing.B) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	a := &dns.A{Hdr: dns.RR_Header{Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 2}, A: net.ParseIP("10.0.0.1")}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		rr := *a
		rr.Hdr.Name = r.Question[0].Name
		m.Answer = []dns.RR{&rr}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	b.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// BenchmarkDNS measures queries answered per second by the agent's DNS
// server over loopback UDP, from parallel clients (GOMAXPROCS of them),
// each over a connection of its own: SRV and A of services, and NXDOMAIN
// for unknown names; and, beside them, a server with one fixed answer.
func BenchmarkDNS(b *testing.B) {
	f := benchState(b)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"fixed.", dns.TypeA}, {"svc-42.skiff.", dns.TypeA}, {"svc-42.skiff.", dns.TypeSRV}, {"nosuch.skiff.", dns.TypeA}} {
		b.Run(dns.TypeToString[q.qtype]+"-"+q.name, func(b *testing.B) {
			var addr string
			if q.name == "fixed." {
				addr = fixedAnswer(b)
			} else {
				s := New(Config{State: func() State { return f.State() }})
				var err error
				if addr, err = s.Listen("127.0.0.1:0"); err != nil {
					b.Fatal(err)
				}
				defer s.Close()
			}
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				c := &dns.Client{Timeout: 5 * time.Second}
				conn, err := c.Dial(addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				m := new(dns.Msg)
				m.SetQuestion(q.name, q.qtype)
				for pb.Next() {
					resp, _, err := c.ExchangeWithConn(m, conn)
					if err != nil || resp.Rcode != dns.RcodeSuccess && q.name != "nosuch.skiff." {
						b.Errorf("%s: %v %v", q.name, resp, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "queries/s")
		})
	}
}

// BenchmarkAnswer measures the work of one answer without the network.
func BenchmarkAnswer(b *testing.B) {
	f := benchState(b)
	s := New(Config{State: func() State { return f.State() }})
	m := new(dns.Msg)
	m.SetQuestion("svc-42.skiff.", dns.TypeSRV)
	b.ReportAllocs()
	for b.Loop() {
		if resp := s.answer(m); len(resp.Answer) != 3 {
			b.Fatalf("answer %v", resp.Answer)
		}
	}
}
