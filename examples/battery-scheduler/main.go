// Command battery-scheduler is an outside scheduler for skiff: it places
// the tasks of a service whose service file says "scheduler": "external"
// on the nodes with the most battery left, by a node attribute the
// built-in strategies know nothing of (agents started with
// --attr battery=NN).
//
//	battery-scheduler --addr https://10.0.0.1:7070 --token "$SKIFF_TOKEN" --service sensors
//
// Placing needs a management token.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/pki"
)

func main() {
	addr := flag.String("addr", envOr("SKIFF_ADDR", "127.0.0.1:7070"), "agent API address")
	token := flag.String("token", os.Getenv("SKIFF_TOKEN"), "management token")
	cacert := flag.String("cacert", "", "the cluster's CA certificate (skiff-data/ca.pem); none for plain http")
	service := flag.String("service", "", "the service to place")
	attribute := flag.String("attribute", "battery", "node attribute holding the charge left, in percent")
	flag.Parse()
	if *service == "" {
		fmt.Fprintln(os.Stderr, "battery-scheduler: --service is required")
		os.Exit(2)
	}
	var tlsConfig *tls.Config
	if *cacert != "" {
		raw, err := os.ReadFile(*cacert)
		if err == nil {
			tlsConfig, err = pki.ClientTLS(raw)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "battery-scheduler: --cacert:", err)
			os.Exit(2)
		}
	}
	cl := api.NewClient(*addr, tlsConfig)
	cl.Token = *token
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s := &Scheduler{Client: cl, Service: *service, Attribute: *attribute, Wait: 30 * time.Second,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	_ = s.Run(ctx)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
