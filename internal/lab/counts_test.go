package lab_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/ottr-go/ottr/internal/lab/pebble"
	"github.com/ottr-go/ottr/internal/verify"
)

// A process other than the lab's reads what the CA did over HTTP: the
// order of a rotation, finalized, with the serial the device now serves.
func TestCountsServerShowsTheRotationsOrder(t *testing.T) {
	ctx := context.Background()
	srv, err := theLab.ServeCounts(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := newApp(t, nil, hostCounted)
	if _, err := rotate(t, ap, hostCounted); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	name, serial := theLab.Assets[hostCounted].SystemName, verify.SerialHex(served(t, hostCounted))

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var counts pebble.Counts
	err = json.NewDecoder(resp.Body).Decode(&counts)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("decode %s: %v", srv.URL, err)
	}
	var orders []pebble.CountedOrder
	for _, o := range counts.Orders {
		if slices.Contains(o.Names, name) {
			orders = append(orders, o)
		}
	}
	if len(orders) != 1 || !orders[0].Finalized || orders[0].CertificateSerial != serial {
		t.Errorf("the CA's orders for %s: %+v; want one, finalized, issuing the served serial %s", name, orders, serial)
	}
	if counts.NewOrders != len(counts.Orders) || counts.CertificatesIssued != len(counts.Issued()) {
		t.Errorf("counts disagree with their list: %d new orders, %d listed; %d issued, %d serials",
			counts.NewOrders, len(counts.Orders), counts.CertificatesIssued, len(counts.Issued()))
	}

	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if resp, err := http.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Errorf("GET %s after Close answered %s", srv.URL, resp.Status)
	}
}
